"""The evaluator owns the Config API's quirks; a small rule written here shows each one."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from notifier.rules import (
    AwsClients,
    ConfigRule,
    ConfigurationItem,
    Evaluation,
    EvaluationsRejected,
    Invocation,
    RuleEventError,
    RuleParameterError,
    RuleParameters,
    Verdict,
    fit_annotation,
    run_rule,
)
from notifier.rules import evaluator as evaluator_module
from notifier.transition import Compliance

from .support import ACCOUNT, World, aws_world, event, load_history

CAPTURED = datetime(2025, 11, 20, 10, 15, 32, 418000, tzinfo=UTC).timestamp()
NOTIFIED = datetime(2025, 11, 20, 10, 16, 1, 93000, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Settings:
    verdict: Compliance
    how_many: int


class RecordingRule(ConfigRule[Settings]):
    """Judges every user by its parameter and remembers what it was asked."""

    name = "recording-rule"
    resource_types = frozenset({"AWS::IAM::User"})
    periodic_resource_types = frozenset({"AWS::IAM::User"})

    def __init__(self, annotation: str = "judged") -> None:
        self.annotation = annotation
        self.items: list[ConfigurationItem] = []
        self.invocations: list[Invocation] = []

    def parse_parameters(self, parameters: RuleParameters) -> Settings:
        return Settings(
            Compliance(parameters.text("verdict", "NON_COMPLIANT")),
            parameters.integer("howMany", 0) or 0,
        )

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: Settings, clients: AwsClients
    ) -> Verdict | Iterable[Evaluation]:
        self.items.append(configuration_item)
        return Verdict(parameters.verdict, self.annotation)

    def evaluate_periodic(
        self, parameters: Settings, clients: AwsClients, invocation: Invocation
    ) -> Iterator[Evaluation]:
        self.invocations.append(invocation)
        for number in range(parameters.how_many):
            yield Evaluation("AWS::IAM::User", f"AIDA{number:016d}", parameters.verdict, f"user {number}")


@pytest.fixture
def world() -> Iterator[World]:
    with aws_world() as created:
        yield created


def quiet(record: dict[str, Any]) -> None:
    pass


def test_a_change_is_put_with_the_result_token_and_the_items_capture_time(world: World) -> None:
    loaded = event("ConfigurationItemChangeNotification__11")
    run_rule(RecordingRule(), loaded, world.clients, log=quiet)
    (call,) = world.config.put_calls
    assert call["ResultToken"] == loaded["resultToken"]
    assert call["Evaluations"] == [
        {
            "ComplianceResourceType": "AWS::IAM::User",
            "ComplianceResourceId": "AIDAQX7O4KVVL5QSHX3MJ",
            "ComplianceType": "NON_COMPLIANT",
            "Annotation": "judged",
            "OrderingTimestamp": CAPTURED,
        }
    ]
    assert "TestMode" not in call


def test_an_invoking_event_given_as_an_object_reads_the_same(world: World) -> None:
    loaded = event("ConfigurationItemChangeNotification__11")
    loaded["invokingEvent"] = json.loads(loaded["invokingEvent"])
    loaded["ruleParameters"] = {"verdict": "COMPLIANT"}
    run_rule(RecordingRule(), loaded, world.clients, log=quiet)
    assert world.config.verdict("AIDAQX7O4KVVL5QSHX3MJ") == ("COMPLIANT", "judged")


class FanOutRule(RecordingRule):
    """A change that speaks for its item and for another resource (as a group's change may for its users)."""

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: Settings, clients: AwsClients
    ) -> Verdict | Iterable[Evaluation]:
        return [
            Evaluation(configuration_item.resource_type, configuration_item.resource_id, Compliance.COMPLIANT),
            Evaluation("AWS::IAM::Group", "AGPAOTHERRESOURCE001", Compliance.NON_COMPLIANT, "because of the user"),
        ]


def test_evaluations_a_change_returns_are_stamped_with_the_items_capture_time(world: World) -> None:
    run_rule(FanOutRule(), event("ConfigurationItemChangeNotification__11"), world.clients, log=quiet)
    (call,) = world.config.put_calls
    assert [(e["ComplianceResourceId"], e["OrderingTimestamp"]) for e in call["Evaluations"]] == [
        ("AIDAQX7O4KVVL5QSHX3MJ", CAPTURED),
        ("AGPAOTHERRESOURCE001", CAPTURED),
    ]
    assert "Annotation" not in call["Evaluations"][0]  # empty: left out (its minimum length is 1)


def test_a_long_annotation_is_cut_to_256_characters_on_one_line(world: World) -> None:
    run_rule(
        RecordingRule("why\n" + "x" * 400), event("ConfigurationItemChangeNotification__11"), world.clients, log=quiet
    )
    (entry,) = world.config.evaluations
    assert (
        len(entry["Annotation"]) == 256
        and entry["Annotation"].startswith("why x")
        and entry["Annotation"].endswith("…")
    )
    assert fit_annotation("short") == "short"


@pytest.mark.parametrize(
    ("prefix", "because"),
    [
        ("ConfigurationItemChangeNotification__16", "was deleted (ResourceDeleted)"),
        ("ConfigurationItemChangeNotification__17", "does not evaluate AWS::IAM::Policy"),
        ("ConfigurationItemChangeNotification__01", "does not evaluate AWS::EC2::Instance"),
        ("ConfigurationItemChangeNotification__02", "does not evaluate AWS::EC2::Instance"),
    ],
)
def test_deleted_and_out_of_scope_items_are_not_applicable_without_asking_the_rule(
    world: World, prefix: str, because: str
) -> None:
    rule = RecordingRule()
    result = run_rule(rule, event(prefix), world.clients, log=quiet)
    (entry,) = world.config.evaluations
    assert entry["ComplianceType"] == "NOT_APPLICABLE" and because in entry["Annotation"]
    assert rule.items == []
    if prefix.endswith("02"):
        assert result.invocation.evaluation_mode == "DETECTIVE"  # read, and changes nothing


def test_a_not_recorded_deletion_and_a_resource_that_left_scope_are_not_applicable(world: World) -> None:
    loaded = event("ConfigurationItemChangeNotification__16")
    invoking = json.loads(loaded["invokingEvent"])
    invoking["configurationItem"]["configurationItemStatus"] = "ResourceDeletedNotRecorded"
    loaded["invokingEvent"] = json.dumps(invoking)
    left = event("ConfigurationItemChangeNotification__10")
    left["eventLeftScope"] = True
    rule = RecordingRule()
    run_rule(rule, loaded, world.clients, log=quiet)
    run_rule(rule, left, world.clients, log=quiet)
    assert [e["ComplianceType"] for e in world.config.evaluations] == ["NOT_APPLICABLE", "NOT_APPLICABLE"]
    assert rule.items == []


def test_an_oversized_item_is_fetched_from_the_configuration_history(world: World) -> None:
    load_history(world.config)
    rule = RecordingRule()
    run_rule(rule, event("OversizedConfigurationItemChangeNotification__10"), world.clients, log=quiet)
    (asked,) = world.config.calls("GetResourceConfigHistory")
    assert asked == {
        "resourceType": "AWS::IAM::User",
        "resourceId": "AIDA723EIKX2FMYNZMC6Y",
        "limit": 1,
        "laterTime": CAPTURED,
    }
    (item,) = rule.items
    assert item.config["userName"] == "reporting-svc"
    assert world.config.verdict("AIDA723EIKX2FMYNZMC6Y")[0] == "NON_COMPLIANT"


def test_an_oversized_item_without_history_is_a_clear_error(world: World) -> None:
    with pytest.raises(Exception, match="ResourceNotDiscovered"):
        run_rule(RecordingRule(), event("OversizedConfigurationItemChangeNotification__10"), world.clients, log=quiet)


def test_a_periodic_run_puts_250_evaluations_in_three_calls_at_the_notification_time(world: World) -> None:
    loaded = event("ScheduledNotification__10", parameters={"verdict": "COMPLIANT", "howMany": "250"})
    rule = RecordingRule()
    result = run_rule(rule, loaded, world.clients, log=quiet)
    assert [len(call["Evaluations"]) for call in world.config.put_calls] == [100, 100, 50]
    assert {call["ResultToken"] for call in world.config.put_calls} == {loaded["resultToken"]}
    assert {entry["OrderingTimestamp"] for entry in world.config.evaluations} == {NOTIFIED}
    assert result.put_calls == 3 and result.as_dict()["compliance"] == {"COMPLIANT": 250}
    (invocation,) = rule.invocations
    assert (invocation.account_id, invocation.rule_name) == (ACCOUNT, "iam-rule-pack")


def test_a_periodic_run_retires_resources_it_no_longer_finds(world: World) -> None:
    for number in range(150):  # more than one page of GetComplianceDetailsByConfigRule
        world.config.seed("iam-rule-pack", "AWS::IAM::User", f"AIDA{number:016d}", "NON_COMPLIANT")
    world.config.seed("iam-rule-pack", "AWS::IAM::User", "AIDAGONEGONEGONE0001", "COMPLIANT")
    world.config.seed("iam-rule-pack", "AWS::IAM::Role", "AROAOTHERTYPE0000001", "COMPLIANT")  # not the run's type
    world.config.seed("iam-rule-pack", "AWS::IAM::User", "AIDAALREADYRETIRED01", "NOT_APPLICABLE")
    run_rule(
        RecordingRule(), event("ScheduledNotification__10", parameters={"howMany": "150"}), world.clients, log=quiet
    )
    assert world.config.verdict("AIDAGONEGONEGONE0001") == (
        "NOT_APPLICABLE",
        "no longer present: the periodic run did not find it",
    )
    assert world.config.verdict("AROAOTHERTYPE0000001")[0] == "COMPLIANT"
    retired = [e["ComplianceResourceId"] for e in world.config.evaluations if e["ComplianceType"] == "NOT_APPLICABLE"]
    assert retired == ["AIDAGONEGONEGONE0001"]
    (first, second) = world.config.calls("GetComplianceDetailsByConfigRule")
    assert first["ConfigRuleName"] == "iam-rule-pack" and first["ComplianceTypes"] == ["COMPLIANT", "NON_COMPLIANT"]
    assert second["NextToken"] == "100"


def test_a_periodic_run_with_nothing_to_report_still_tells_config_it_ran(world: World) -> None:
    run_rule(RecordingRule(), event("ScheduledNotification__10"), world.clients, log=quiet)
    assert [call["Evaluations"] for call in world.config.put_calls] == [[]]


def test_the_testmode_token_puts_in_test_mode(world: World) -> None:
    loaded = event("ConfigurationItemChangeNotification__10")
    loaded["resultToken"] = "TESTMODE"
    run_rule(RecordingRule(), loaded, world.clients, log=quiet)
    assert world.config.put_calls[0]["TestMode"] is True


def test_evaluations_config_rejects_are_an_error_after_every_batch_was_sent(world: World) -> None:
    world.config.reject.add("AIDA0000000000000007")
    loaded = event("ScheduledNotification__10", parameters={"howMany": "150"})
    with pytest.raises(EvaluationsRejected, match="rejected 1 evaluation"):
        run_rule(RecordingRule(), loaded, world.clients, log=quiet)
    assert len(world.config.put_calls) == 2


def test_a_rule_cannot_report_insufficient_data() -> None:
    with pytest.raises(ValueError, match="cannot report INSUFFICIENT_DATA"):
        Evaluation("AWS::IAM::User", "AIDA1", Compliance.INSUFFICIENT_DATA)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"invokingEvent": "{not json"}, "invokingEvent is not JSON"),
        ({"invokingEvent": None}, "invokingEvent is missing"),
        ({"resultToken": None}, "no resultToken"),
        (
            {"invokingEvent": json.dumps({"messageType": "ComplianceChangeNotification"})},
            "'ComplianceChangeNotification'",
        ),
    ],
)
def test_an_event_that_is_not_a_rule_invocation_is_a_clear_error(
    world: World, change: dict[str, Any], message: str
) -> None:
    loaded = {**event("ConfigurationItemChangeNotification__10"), **change}
    with pytest.raises(RuleEventError, match=message):
        run_rule(RecordingRule(), loaded, world.clients, log=quiet)
    assert world.config.put_calls == []


@pytest.mark.parametrize(
    ("parameters", "named", "message"),
    [
        ("{oops", "ruleParameters", "is not JSON"),
        ("[1]", "ruleParameters", "not an object"),
        (json.dumps({"howMany": "many"}), "howMany", "must be a whole number"),
        (json.dumps({"howMany": "-1"}), "howMany", "at least 0"),
    ],
)
def test_a_malformed_parameter_is_logged_and_raised_by_name_and_nothing_is_put(
    world: World, parameters: str, named: str, message: str
) -> None:
    loaded = {**event("ScheduledNotification__10"), "ruleParameters": parameters}
    logged: list[dict[str, Any]] = []
    with pytest.raises(RuleParameterError, match=message) as caught:
        run_rule(RecordingRule(), loaded, world.clients, log=logged.append)
    assert caught.value.name == named
    assert logged == [
        {"event": "rule.parameter_error", "rule": "iam-rule-pack", "parameter": named, "error": str(caught.value)}
    ]
    assert world.config.put_calls == []


def test_parameter_accessors_read_what_people_type() -> None:
    parameters = RuleParameters.from_event(
        json.dumps({"list": " admin , breakglass,, ", "yes": "TRUE", "no": False, "blank": "  ", "number": 14})
    )
    assert parameters.names("list") == {"admin", "breakglass"}
    assert parameters.names("absent") == frozenset()
    assert (parameters.flag("yes", default=False), parameters.flag("no", default=True)) == (True, False)
    assert parameters.flag("blank", default=True) is True  # an emptied console field is absent
    assert parameters.integer("number") == 14
    with pytest.raises(RuleParameterError, match="'blank' is missing"):
        parameters.text("blank")
    assert RuleParameters.from_event(None).values == {} and RuleParameters.from_event("").values == {}


def test_each_rule_modules_lambda_handler_runs_on_the_process_clients(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from notifier.rules.standardized_iam_policies import lambda_handler

    monkeypatch.setattr(evaluator_module, "default_clients", lambda: world.clients)
    loaded = event("ConfigurationItemChangeNotification__10")
    answer = lambda_handler(loaded, None)
    assert answer == {
        "rule": "standardized-iam-policies-for-all-users",
        "message_type": "ConfigurationItemChangeNotification",
        "evaluations": 1,
        "compliance": {"COMPLIANT": 1},
        "put_calls": 1,
    }


def test_clients_are_made_once_per_service_on_first_use() -> None:
    made: list[str] = []

    def factory(service: str) -> object:
        made.append(service)
        return object()

    clients = AwsClients(factory)
    assert made == []
    assert clients.iam is clients.iam and clients.config is clients.client("config")
    assert made == ["iam", "config"]


class TriggerlessRule(ConfigRule[Settings]):
    """Leaves evaluate_change and evaluate_periodic to the base, as a rule with neither trigger would."""

    name = "triggerless"
    resource_types = frozenset({"AWS::IAM::User"})

    def parse_parameters(self, parameters: RuleParameters) -> Settings:
        return Settings(Compliance.COMPLIANT, 1)


@pytest.mark.parametrize(
    ("fixture", "words"),
    [
        ("ConfigurationItemChangeNotification__11", "is not triggered by configuration changes"),
        ("ScheduledNotification__10", "is not triggered periodically"),
    ],
)
def test_a_trigger_the_rule_does_not_have_fails_naming_the_rule(world: World, fixture: str, words: str) -> None:
    with pytest.raises(RuleEventError, match=f"triggerless {words}"):
        run_rule(TriggerlessRule(), event(fixture), world.clients, log=quiet)
    assert world.config.put_calls == []  # nothing is put: Config keeps its last verdicts
