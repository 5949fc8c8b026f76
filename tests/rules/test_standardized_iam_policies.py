"""standardized-iam-policies on the blog's users, on changes and on a schedule against moto's IAM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from notifier.rules import RuleParameterError, run_rule
from notifier.rules import evaluator as evaluator_module
from notifier.rules.standardized_iam_policies import RULE, evaluate_user_policies, lambda_handler
from notifier.transition import Compliance

from .support import ACCOUNT, World, aws_world, edit_item, event, load_history

PARAMETERS = {"desiredPolicyName": "MyIAMUserPolicy", "exceptionList": "admin,breakglass"}
ADMIN_ID = "AIDASJOTMRJAABUNUV7FF"  # the resourceId of fixture 15


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with aws_world() as created:
        monkeypatch.setattr(evaluator_module, "default_clients", lambda: created.clients)
        yield created


def quiet(record: dict[str, Any]) -> None:
    pass


def judged(world: World, loaded: dict[str, Any]) -> tuple[str, str]:
    """The one verdict the rule's Lambda handler sent to Config for this event."""
    lambda_handler(loaded, None)
    (entry,) = world.config.put_calls[-1]["Evaluations"]
    assert entry["ComplianceResourceType"] in ("AWS::IAM::User", "AWS::IAM::Policy", "AWS::EC2::Instance")
    return entry["ComplianceType"], entry.get("Annotation", "")


@pytest.mark.parametrize(
    ("prefix", "compliance", "annotation"),
    [
        ("ConfigurationItemChangeNotification__10", "COMPLIANT", "only MyIAMUserPolicy is attached"),
        (
            "ConfigurationItemChangeNotification__11",
            "NON_COMPLIANT",
            "missing MyIAMUserPolicy; extra managed: DBBackupOperatorPolicy, DatabaseAdminPolicy",
        ),
        ("ConfigurationItemChangeNotification__12", "NON_COMPLIANT", "missing MyIAMUserPolicy"),
        ("ConfigurationItemChangeNotification__13", "NON_COMPLIANT", "missing MyIAMUserPolicy"),
        ("ConfigurationItemChangeNotification__14", "NON_COMPLIANT", "inline: AllowTeamReportsRead"),
        ("ConfigurationItemChangeNotification__15", "NOT_APPLICABLE", "admin is in the exception list"),
        (
            "ConfigurationItemChangeNotification__16",
            "NOT_APPLICABLE",
            "AWS::IAM::User DBSuperUser was deleted (ResourceDeleted)",
        ),
        (
            "ConfigurationItemChangeNotification__17",
            "NOT_APPLICABLE",
            "standardized-iam-policies does not evaluate AWS::IAM::Policy",
        ),
        (
            "ConfigurationItemChangeNotification__01",
            "NOT_APPLICABLE",
            "standardized-iam-policies does not evaluate AWS::EC2::Instance",
        ),
    ],
)
def test_each_users_change_gets_the_verdict_and_the_reason(
    world: World, prefix: str, compliance: str, annotation: str
) -> None:
    assert judged(world, event(prefix, parameters=PARAMETERS)) == (compliance, annotation)


def test_the_oversized_users_item_is_fetched_and_judged(world: World) -> None:
    load_history(world.config)
    verdict = judged(world, event("OversizedConfigurationItemChangeNotification__10", parameters=PARAMETERS))
    assert verdict == ("NON_COMPLIANT", "inline: ReportingBucketsAccess")
    assert len(world.config.calls("GetResourceConfigHistory")) == 1


@pytest.mark.parametrize(
    ("user_name", "exception_list", "compliance"),
    [
        ("breakglass", "admin,breakglass", "NOT_APPLICABLE"),
        ("glass", "admin,breakglass", "NON_COMPLIANT"),  # a name, not a substring
        ("breakglass", "  admin ,  breakglass  ", "NOT_APPLICABLE"),
        ("Admin", "admin", "NOT_APPLICABLE"),  # IAM names are unique regardless of case
        ("admin", ADMIN_ID, "NOT_APPLICABLE"),  # or the unique id
        ("admin", "", "NON_COMPLIANT"),
    ],
)
def test_the_exception_list_holds_several_trimmed_names(
    world: World, user_name: str, exception_list: str, compliance: str
) -> None:
    parameters = {"desiredPolicyName": "MyIAMUserPolicy", "exceptionList": exception_list}
    loaded = edit_item(event("ConfigurationItemChangeNotification__15", parameters=parameters), userName=user_name)
    assert judged(world, loaded)[0] == compliance


def test_policies_inherited_from_groups_count_when_asked(world: World) -> None:
    iam = world.iam
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:List*", "Resource": "*"}]}
    )
    approved = iam.create_policy(PolicyName="MyIAMUserPolicy", PolicyDocument=document)["Policy"]["Arn"]
    extra = iam.create_policy(PolicyName="DatabaseAdminPolicy", PolicyDocument=document)["Policy"]["Arn"]
    iam.create_group(GroupName="everyone")
    iam.attach_group_policy(GroupName="everyone", PolicyArn=approved)
    iam.create_group(GroupName="dba")
    iam.attach_group_policy(GroupName="dba", PolicyArn=extra)
    iam.put_group_policy(GroupName="dba", PolicyName="ReadLogs", PolicyDocument=document)
    with_groups = {**PARAMETERS, "includeGroupPolicies": "true"}
    newhire = event("ConfigurationItemChangeNotification__12", parameters=with_groups)

    assert judged(world, edit_item(newhire, groupList=["everyone"])) == (
        "COMPLIANT",
        "only MyIAMUserPolicy is attached",
    )
    assert judged(world, edit_item(newhire, groupList=["everyone", "dba", "deleted-since"])) == (
        "NON_COMPLIANT",
        "extra managed: DatabaseAdminPolicy (group dba); inline: ReadLogs (group dba)",
    )
    without_groups = event("ConfigurationItemChangeNotification__12", parameters=PARAMETERS)
    assert judged(world, edit_item(without_groups, groupList=["everyone"])) == (
        "NON_COMPLIANT",
        "missing MyIAMUserPolicy",
    )


@pytest.mark.parametrize(
    ("parameters", "named", "message"),
    [
        ({"exceptionList": "admin"}, "desiredPolicyName", "is missing"),
        ({"desiredPolicyName": "  "}, "desiredPolicyName", "is missing"),
        (
            {"desiredPolicyName": "MyIAMUserPolicy", "includeGroupPolicies": "maybe"},
            "includeGroupPolicies",
            "true or false",
        ),
    ],
)
def test_a_missing_or_malformed_parameter_is_an_error_naming_it(
    world: World, parameters: dict[str, str], named: str, message: str
) -> None:
    with pytest.raises(RuleParameterError, match=message) as caught:
        run_rule(
            RULE, event("ConfigurationItemChangeNotification__10", parameters=parameters), world.clients, log=quiet
        )
    assert caught.value.name == named and named in str(caught.value)
    assert world.config.put_calls == []


READ_ONLY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
)


def add_user(world: World, name: str, *policies: str, inline: str | None = None) -> str:
    user_id: str = world.iam.create_user(UserName=name)["User"]["UserId"]
    for arn in policies:
        world.iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if inline:
        world.iam.put_user_policy(UserName=name, PolicyName=inline, PolicyDocument=READ_ONLY)
    return user_id


def create_policy(world: World, name: str) -> str:
    arn: str = world.iam.create_policy(PolicyName=name, PolicyDocument=READ_ONLY)["Policy"]["Arn"]
    return arn


def test_a_periodic_run_judges_every_user_in_iam(world: World) -> None:
    approved, dba, backup = (
        create_policy(world, n) for n in ("MyIAMUserPolicy", "DatabaseAdminPolicy", "DBBackupOperatorPolicy")
    )
    ids = {
        "teststadion": add_user(world, "teststadion", approved),
        "DBSuperUser": add_user(world, "DBSuperUser", dba, backup),
        "newhire": add_user(world, "newhire"),
        "appdev": add_user(world, "appdev", approved, inline="AllowTeamReportsRead"),
        "admin": add_user(world, "admin", dba),
    }
    result = run_rule(RULE, event("ScheduledNotification__10", parameters=PARAMETERS), world.clients, log=quiet)
    assert {name: world.config.verdict(user_id) for name, user_id in ids.items()} == {
        "teststadion": ("COMPLIANT", "only MyIAMUserPolicy is attached"),
        "DBSuperUser": (
            "NON_COMPLIANT",
            "missing MyIAMUserPolicy; extra managed: DBBackupOperatorPolicy, DatabaseAdminPolicy",
        ),
        "newhire": ("NON_COMPLIANT", "missing MyIAMUserPolicy"),
        "appdev": ("NON_COMPLIANT", "inline: AllowTeamReportsRead"),
        "admin": ("NOT_APPLICABLE", "admin is in the exception list"),
    }
    assert {e.resource_type for e in result.evaluations} == {"AWS::IAM::User"}
    assert result.invocation.account_id == ACCOUNT


def test_a_periodic_run_over_250_users_puts_three_batches(world: World) -> None:
    approved = create_policy(world, "MyIAMUserPolicy")
    for number in range(250):
        add_user(world, f"user-{number:03d}", *((approved,) if number % 10 == 0 else ()))
    loaded = event("ScheduledNotification__10", parameters=PARAMETERS)
    run_rule(RULE, loaded, world.clients, log=quiet)
    assert [len(call["Evaluations"]) for call in world.config.put_calls] == [100, 100, 50]
    assert all(call["ResultToken"] == loaded["resultToken"] for call in world.config.put_calls)
    counts = [e["ComplianceType"] for e in world.config.evaluations]
    assert (counts.count("COMPLIANT"), counts.count("NON_COMPLIANT")) == (25, 225)
    assert all(len(e["Annotation"]) <= 256 for e in world.config.evaluations)


def test_a_user_deleted_between_periodic_runs_becomes_not_applicable(world: World) -> None:
    approved = create_policy(world, "MyIAMUserPolicy")
    stays = add_user(world, "teststadion", approved)
    leaves = add_user(world, "DBSuperUser")
    loaded = event(
        "ScheduledNotification__10", parameters=PARAMETERS, rule_name="standardized-iam-policies-for-all-users"
    )
    run_rule(RULE, loaded, world.clients, log=quiet)
    assert world.config.verdict(leaves)[0] == "NON_COMPLIANT"

    world.iam.delete_user(UserName="DBSuperUser")
    run_rule(RULE, loaded, world.clients, log=quiet)
    assert world.config.verdict(leaves) == ("NOT_APPLICABLE", "no longer present: the periodic run did not find it")
    assert world.config.verdict(stays)[0] == "COMPLIANT"
    (_, asked) = world.config.calls("GetComplianceDetailsByConfigRule")
    assert asked["ConfigRuleName"] == "standardized-iam-policies-for-all-users"


def test_a_periodic_run_counts_group_policies_when_asked(world: World) -> None:
    approved = create_policy(world, "MyIAMUserPolicy")
    world.iam.create_group(GroupName="everyone")
    world.iam.attach_group_policy(GroupName="everyone", PolicyArn=approved)
    user_id = add_user(world, "newhire")
    world.iam.add_user_to_group(GroupName="everyone", UserName="newhire")
    run_rule(
        RULE,
        event("ScheduledNotification__10", parameters={**PARAMETERS, "includeGroupPolicies": "true"}),
        world.clients,
        log=quiet,
    )
    assert world.config.verdict(user_id)[0] == "COMPLIANT"


def test_the_decision_function_keeps_its_contract() -> None:
    """The remediation example and the demo call it directly."""
    assert evaluate_user_policies("u", ["MyIAMUserPolicy"], [], desired_policy="MyIAMUserPolicy", exceptions=()) == (
        Compliance.COMPLIANT,
        "only MyIAMUserPolicy is attached",
    )
    verdict, annotation = evaluate_user_policies(
        "u", [f"Policy{n:03d}" for n in range(60)], [], desired_policy="MyIAMUserPolicy", exceptions=()
    )
    assert verdict is Compliance.NON_COMPLIANT and len(annotation) == 256
