"""The `lambda` destination against moto's Lambda (no Docker): the invoke it makes, and every guard rail
stopping one.

moto accepts an InvocationType=Event call (202) but keeps no record of async invocations, so the call is
observed at the botocore layer: an event hook on the client records the API parameters we passed and the
status moto answered, and lets the real moto call happen in between.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from notifier.delivery import DeliveryContext, deliver
from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.registry import BuildContext, build_destination
from notifier.destinations.remediation import BREAKER_METRIC, RemediationDestination, preview_action
from notifier.errors import DeliveryError
from notifier.remediation.guard import breaker_bucket, rule_bucket
from notifier.remediation.payload import SCHEMA_FILE, idempotency_key
from notifier.render import Renderer
from notifier.resources import load_schema_file
from notifier.secrets import SecretResolver
from notifier.state import MemoryState, SqliteState
from notifier.state.base import StateStore
from notifier.transition import Compliance, TransitionKind
from tests.remediation_support import DBSUPERUSER_ID, RULE, iam_notification, outgoing

REGION = "us-east-1"
FUNCTION = "iam-fixer"
NOW = datetime(2025, 11, 20, 10, 20, tzinfo=UTC)
RENDERER = Renderer()
ENFORCE = {"mode": "enforce", "allow_rules": [RULE]}


@dataclass
class InvokeRecorder:
    """What our code asked botocore to send, and what moto answered."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def params(self, params: dict[str, Any], **_: Any) -> None:
        self.calls.append(dict(params))  # returning None leaves the call as it was

    def answered(self, http_response: Any, **_: Any) -> None:
        self.statuses.append(http_response.status_code)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.calls]


@pytest.fixture(scope="module")
def lambda_client() -> Iterator[Any]:
    """One moto Lambda (with its role) and one client for the module: building a boto3 client costs
    ~0.2 s, and nothing here changes the function. mock_aws puts fake credentials in the environment."""
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]}  # fmt: skip
        role = iam.create_role(RoleName="iam-fixer-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
        client = boto3.client("lambda", region_name=REGION)
        client.create_function(
            FunctionName=FUNCTION,
            Runtime="python3.11",
            Role=role["Arn"],
            Handler="handler.lambda_handler",
            Code={"ZipFile": _zip({"handler.py": "def lambda_handler(event, context):\n    return event\n"})},
        )
        yield client


@pytest.fixture
def recorder(lambda_client: Any) -> Iterator[InvokeRecorder]:
    recorder = InvokeRecorder()
    events = lambda_client.meta.events
    events.register("provide-client-params.lambda.Invoke", recorder.params)
    events.register("after-call.lambda.Invoke", recorder.answered)
    yield recorder
    events.unregister("provide-client-params.lambda.Invoke", recorder.params)
    events.unregister("after-call.lambda.Invoke", recorder.answered)


def remediation(client: Any, state: StateStore | None = None, **options: Any) -> RemediationDestination:
    spec = DestinationSpec("iam-fixer", "lambda", {"function": FUNCTION, **options})
    context = BuildContext(RENDERER, SecretResolver(environ={}), client_factory=lambda _s, _r: client, state=state)
    destination = build_destination(spec, context)
    assert isinstance(destination, RemediationDestination)
    return destination


def user(number: int) -> Outgoing:
    return outgoing(resource_id=f"AIDAEXAMPLEUSER{number:05d}")


# -- the invoke ---------------------------------------------------------------------------------------


def test_enforce_invokes_asynchronously_with_a_payload_that_matches_its_schema(
    lambda_client: Any, recorder: InvokeRecorder
) -> None:
    state = MemoryState()
    sent = outgoing()

    assert remediation(lambda_client, state, **ENFORCE).send(sent, now=NOW) == "invoked"

    (call,) = recorder.calls
    assert call["FunctionName"] == FUNCTION and call["InvocationType"] == "Event"
    assert recorder.statuses == [202]  # moto queued it, as Lambda does
    (payload,) = recorder.payloads
    schema = load_schema_file(SCHEMA_FILE)
    jsonschema.Draft7Validator(schema).validate(payload)
    assert set(payload) == set(schema["properties"])  # nothing undocumented leaves the notifier
    assert set(payload["notification"]) == set(schema["properties"]["notification"]["properties"])
    assert payload["version"] == 1 and payload["type"] == "compliance.remediation"
    assert payload["dry_run"] is False and payload["destination"] == "iam-fixer"
    assert payload["idempotency_key"] == idempotency_key(sent.notification.content_key, "iam-fixer")
    assert payload["requested_at"] == "2025-11-20T10:20:00.000Z"
    assert payload["transition"] == {"kind": "violated", "from": "COMPLIANT", "to": "NON_COMPLIANT"}
    assert payload["notification"]["resource_id"] == DBSUPERUSER_ID
    assert payload["notification"]["rule"] == RULE
    assert payload["routes"] == ["iam-violations"] and payload["message_id"] == "sns-message-1"
    # counted: one flow event for the rule, one demand event for the breaker
    assert state.count_events(rule_bucket("iam-fixer", RULE), since=NOW) == 1
    assert state.count_events(breaker_bucket("iam-fixer"), since=NOW) == 1


def test_the_idempotency_key_is_stable_per_change_and_destination() -> None:
    change = iam_notification().content_key
    assert idempotency_key(change, "iam-fixer") == idempotency_key(change, "iam-fixer")
    assert idempotency_key(change, "iam-fixer") != idempotency_key(change, "other-fixer")
    assert idempotency_key(change, "iam-fixer") != idempotency_key(
        iam_notification(resource_id="X").content_key, "iam-fixer"
    )


def test_the_region_of_a_function_arn_chooses_the_client(lambda_client: Any) -> None:
    asked: list[tuple[str, str | None]] = []

    def factory(service: str, region: str | None) -> Any:
        asked.append((service, region))
        return lambda_client

    arn = "arn:aws:lambda:eu-west-1:123456789012:function:iam-fixer:live"
    spec = DestinationSpec("iam-fixer", "lambda", {"function": arn})
    build_destination(spec, BuildContext(RENDERER, SecretResolver(environ={}), client_factory=factory))
    assert asked == [("lambda", "eu-west-1")]


# -- each guard rail stops an invoke ---------------------------------------------------------------------


def test_dry_run_is_the_default_it_counts_and_invokes_nothing(lambda_client: Any, recorder: InvokeRecorder) -> None:
    state = MemoryState()
    assert remediation(lambda_client, state).send(outgoing(), now=NOW) == "dry-run"
    assert recorder.calls == []
    assert state.count_events(rule_bucket("iam-fixer", RULE), since=NOW) == 1  # a rehearsal counts like the real thing


def test_only_first_violation_and_violated_remediate_by_default(lambda_client: Any, recorder: InvokeRecorder) -> None:
    state = MemoryState()
    destination = remediation(lambda_client, state, **ENFORCE)
    resolved = outgoing(old=Compliance.NON_COMPLIANT, new=Compliance.COMPLIANT)
    assert destination.send(resolved, now=NOW) == "none"
    assert recorder.calls == [] and state.count_events(breaker_bucket("iam-fixer"), since=NOW) == 0
    assert destination.send(outgoing(old=Compliance.NONE), now=NOW) == "invoked"  # first_violation
    assert len(recorder.calls) == 1


def test_a_rule_outside_allow_rules_is_blocked(lambda_client: Any, recorder: InvokeRecorder) -> None:
    destination = remediation(lambda_client, mode="enforce", allow_rules=["standardized-s3-*"])
    assert destination.send(outgoing(), now=NOW) == "blocked:rule-not-allowed"
    assert recorder.calls == []


def test_an_account_outside_allow_accounts_is_blocked(lambda_client: Any, recorder: InvokeRecorder) -> None:
    destination = remediation(lambda_client, **ENFORCE, allow_accounts=["1111111111*"])
    assert destination.send(outgoing(), now=NOW) == "blocked:account-not-allowed"
    assert destination.send(outgoing(account="111111111122"), now=NOW) == "invoked"
    assert len(recorder.calls) == 1


def test_an_excepted_resource_is_blocked_by_its_id_not_its_name(lambda_client: Any, recorder: InvokeRecorder) -> None:
    by_id = remediation(lambda_client, **ENFORCE, exceptions=[DBSUPERUSER_ID])
    assert by_id.send(outgoing(), now=NOW) == "blocked:excepted-resource"
    assert recorder.calls == []
    # Config names an IAM user by its unique id, so its name in `exceptions` cannot match (the example
    # remediation function checks names itself, as a second line of defence).
    by_name = remediation(lambda_client, **ENFORCE, exceptions=["DBSuperUser"])
    assert by_name.send(outgoing(), now=NOW) == "invoked"


def test_the_rate_limit_stops_the_next_remediation_of_a_rule_within_the_hour(
    lambda_client: Any, recorder: InvokeRecorder
) -> None:
    destination = remediation(
        lambda_client, MemoryState(), mode="enforce", allow_rules=["standardized-*"], max_per_hour=2
    )
    assert destination.send(user(1), now=NOW) == "invoked"
    assert destination.send(user(2), now=NOW + timedelta(minutes=10)) == "invoked"
    assert destination.send(user(3), now=NOW + timedelta(minutes=59)) == "blocked:rate-limit"
    assert len(recorder.calls) == 2
    other_rule = outgoing(rule="standardized-iam-roles", resource_id="AROAEXAMPLE")
    assert destination.send(other_rule, now=NOW + timedelta(minutes=59)) == "invoked"  # per rule
    # An hour after the first, one slot is free again (the blocked attempt took none).
    assert destination.send(user(4), now=NOW + timedelta(hours=1, seconds=1)) == "invoked"
    assert destination.send(user(5), now=NOW + timedelta(hours=1, seconds=2)) == "blocked:rate-limit"
    assert [json.loads(c["Payload"])["notification"]["resource_id"] for c in recorder.calls] == [
        "AIDAEXAMPLEUSER00001", "AIDAEXAMPLEUSER00002", "AROAEXAMPLE", "AIDAEXAMPLEUSER00004"
    ]  # fmt: skip


def test_the_circuit_breaker_trips_and_stays_open_while_the_storm_lasts(
    lambda_client: Any, recorder: InvokeRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    destination = remediation(lambda_client, MemoryState(), **ENFORCE, breaker={"max": 3, "window": "1h"})
    minute = timedelta(minutes=1)
    assert [destination.send(user(n), now=NOW + n * minute) for n in range(3)] == ["invoked"] * 3
    capsys.readouterr()

    assert destination.send(user(3), now=NOW + 3 * minute) == "blocked:circuit-breaker"
    assert len(recorder.calls) == 3
    (line,) = [json.loads(text) for text in capsys.readouterr().err.splitlines() if "circuit breaker" in text]
    assert line["level"] == "ERROR"
    assert line["remediation"]["wanted_in_window"] == 3 and line["remediation"]["breaker_max"] == 3
    assert line["remediation"]["resource_id"] == "AIDAEXAMPLEUSER00003"
    assert line[BREAKER_METRIC] == 1 and line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == BREAKER_METRIC

    # Still open half an hour later, and an hour after the first invoke: the blocked resources keep
    # counting as demand, so the storm must be quiet for a whole window before anything is invoked.
    assert destination.send(user(4), now=NOW + 30 * minute) == "blocked:circuit-breaker"
    assert destination.send(user(5), now=NOW + 61 * minute) == "blocked:circuit-breaker"
    assert len(recorder.calls) == 3
    assert destination.send(user(6), now=NOW + 122 * minute) == "invoked"  # an hour after the last attempt


def test_a_dry_run_storm_trips_the_breaker_too(lambda_client: Any, recorder: InvokeRecorder) -> None:
    destination = remediation(lambda_client, MemoryState(), breaker={"max": 2, "window": "10m"})
    assert [destination.send(user(n), now=NOW) for n in range(3)] == ["dry-run", "dry-run", "blocked:circuit-breaker"]
    assert recorder.calls == []


def test_the_same_transition_is_never_remediated_twice(lambda_client: Any, recorder: InvokeRecorder) -> None:
    state = MemoryState()
    destination = remediation(lambda_client, state, **ENFORCE)
    context = DeliveryContext(state=state, sleep=lambda _seconds: None)
    first = deliver(destination, outgoing(), context)
    again = deliver(destination, outgoing(), context)  # an SNS redelivery, a replay, a Config re-send
    assert (first.action, again.action) == ("invoked", "already_sent")
    assert len(recorder.calls) == 1


# -- explain's preview ------------------------------------------------------------------------------------


def test_preview_decides_like_send_and_records_nothing(lambda_client: Any, recorder: InvokeRecorder) -> None:
    spec = DestinationSpec("iam-fixer", "lambda", {"function": FUNCTION, **ENFORCE, "breaker": {"max": 1}})
    n, violated = iam_notification(), TransitionKind.VIOLATED
    state = MemoryState()
    assert preview_action(spec, n, violated, None, NOW) == "invoke"
    assert preview_action(spec, n, violated, state, NOW) == "invoke"
    assert preview_action(spec, n, TransitionKind.RESOLVED, state, NOW) == "none"
    state.record_event(breaker_bucket("iam-fixer"), at=NOW)
    assert preview_action(spec, n, violated, state, NOW) == "blocked:circuit-breaker"
    assert state.count_events(breaker_bucket("iam-fixer"), since=NOW) == 1  # read, never written
    dry = DestinationSpec("iam-fixer", "lambda", {"function": FUNCTION})
    assert preview_action(dry, n, violated, MemoryState(read_only=True), NOW) == "dry-run"
    assert recorder.calls == []


# -- failures ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("TooManyRequestsException", 429, True),
        ("ServiceException", 500, True),
        ("ResourceConflictException", 409, True),
        ("EC2UnexpectedException", 502, True),
        ("ResourceNotFoundException", 404, False),
        ("AccessDeniedException", 403, False),
        ("InvalidParameterValueException", 400, False),
        ("KMSDisabledException", 502, False),  # a 5xx that no retry cures
    ],
)
def test_invoke_errors_say_whether_a_retry_can_help_and_count_nothing(
    lambda_client: Any, code: str, status: int, retryable: bool
) -> None:
    client, state = lambda_client, MemoryState()
    with Stubber(client) as stubber:  # answers in moto's place while active
        stubber.add_client_error("invoke", service_error_code=code, service_message="no", http_status_code=status)
        with pytest.raises(DeliveryError) as raised:
            remediation(client, state, **ENFORCE).send(outgoing(), now=NOW)
    assert raised.value.retryable is retryable
    assert code in str(raised.value) and FUNCTION in str(raised.value)
    assert state.count_events(breaker_bucket("iam-fixer"), since=NOW) == 0  # nothing was done


def test_throttling_passes_on_lambdas_retry_after_and_delivery_waits_for_it(lambda_client: Any) -> None:
    client, state, sleeps = lambda_client, MemoryState(), list[float]()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "invoke",
            service_error_code="TooManyRequestsException",
            http_status_code=429,
            modeled_fields={"retryAfterSeconds": "7", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
        )
        expected = {"FunctionName": FUNCTION, "InvocationType": "Event", "Payload": ANY}
        stubber.add_response("invoke", {"StatusCode": 202}, expected)
        result = deliver(remediation(client, state, **ENFORCE), outgoing(), DeliveryContext(state, sleep=sleeps.append))
    assert (result.action, sleeps) == ("invoked", [7.0])


def test_unreadable_counters_fail_the_delivery_and_invoke_nothing(
    lambda_client: Any, recorder: InvokeRecorder, tmp_path: Path
) -> None:
    broken = SqliteState(tmp_path / "state.sqlite")
    broken.close()  # every read now fails, as a store that went away does
    with pytest.raises(DeliveryError, match="cannot read the remediation counters") as raised:
        remediation(lambda_client, broken, **ENFORCE).send(outgoing(), now=NOW)
    assert raised.value.retryable and recorder.calls == []


def test_counts_that_cannot_be_written_after_an_invoke_are_logged_not_retried(
    lambda_client: Any, recorder: InvokeRecorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SqliteState(tmp_path / "state.sqlite").close()
    reads_only = SqliteState(tmp_path / "state.sqlite", read_only=True)  # counts, but refuses to record
    # The invoke happened and cannot be taken back: failing now would release the claim and invoke twice.
    assert remediation(lambda_client, reads_only, **ENFORCE).send(outgoing(), now=NOW) == "invoked"
    assert len(recorder.calls) == 1
    assert "remediation counters not updated" in capsys.readouterr().err


def test_enforce_without_a_state_store_warns_that_limits_are_per_process(
    lambda_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    remediation(lambda_client, None, **ENFORCE)
    assert "without a state store" in capsys.readouterr().err


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()
