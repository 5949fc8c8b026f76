"""The example remediation function for the standardized-IAM-policy rule, against moto's IAM.

The users are the AWS Security Blog's: DBSuperUser (two extra managed policies, and here an inline one
too), teststadion (only MyIAMUserPolicy: compliant) and admin (AdministratorAccess, in the exception
list). Payloads are built by the notifier's own `build_payload`, with the user's unique id as Config
reports it, so the function's lookup by id is what is tested.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from notifier.remediation.payload import build_payload
from notifier.rules import remediate_standardized_iam_policies as example
from notifier.rules.remediate_standardized_iam_policies import lambda_handler
from tests.remediation_support import outgoing

NOW = datetime(2025, 11, 20, 10, 20, tzinfo=UTC)
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
INLINE_DOCUMENT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def module_client() -> Any:
    """One IAM client for the module (building one costs ~0.2 s); each test gets a fresh moto estate."""
    return boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def iam(aws_credentials: None, monkeypatch: pytest.MonkeyPatch, module_client: Any) -> Iterator[Any]:
    yield from _blog_estate(monkeypatch, module_client, admin_policy="DatabaseAdminPolicy")


@pytest.fixture
def iam_with_aws_policies(aws_credentials: None, monkeypatch: pytest.MonkeyPatch, module_client: Any) -> Iterator[Any]:
    """The blog's admin exactly, with AWS managed AdministratorAccess: moto loads every AWS managed
    policy for that (about 2 s), so only the test about admin pays for it."""
    yield from _blog_estate(monkeypatch, module_client, admin_policy=ADMINISTRATOR_ACCESS)


def _blog_estate(monkeypatch: pytest.MonkeyPatch, client: Any, *, admin_policy: str) -> Iterator[Any]:
    for name in ("DRY_RUN", "DESIRED_POLICY_NAME", "EXCEPTION_LIST"):
        monkeypatch.delenv(name, raising=False)
    # The handler's own client (one per container) is the module's here; see the test of iam_client below.
    monkeypatch.setattr(example, "iam_client", lambda: client)
    with mock_aws(config={"iam": {"load_aws_managed_policies": admin_policy == ADMINISTRATOR_ACCESS}}):
        arns = {
            name: _policy(client, name) for name in ("MyIAMUserPolicy", "DatabaseAdminPolicy", "DBBackupOperatorPolicy")
        }
        _user(
            client,
            "DBSuperUser",
            [arns["DatabaseAdminPolicy"], arns["DBBackupOperatorPolicy"]],
            inline="LegacyDbAccess",
        )
        _user(client, "teststadion", [arns["MyIAMUserPolicy"]])
        _user(client, "admin", [arns.get(admin_policy, admin_policy)], inline="BreakGlassNotes")
        _user(client, "appdev", [arns["MyIAMUserPolicy"]], inline="AllowTeamReportsRead")
        yield client


def payload(iam: Any, user_name: str, *, dry_run: bool = False, **changes: Any) -> dict[str, Any]:
    changes.setdefault("resource_id", iam.get_user(UserName=user_name)["User"]["UserId"])
    return build_payload(outgoing(**changes), destination="iam-fixer", dry_run=dry_run, requested_at=NOW)


def policies(iam: Any, user_name: str) -> tuple[list[str], list[str]]:
    attached = [p["PolicyName"] for p in iam.list_attached_user_policies(UserName=user_name)["AttachedPolicies"]]
    return sorted(attached), sorted(iam.list_user_policies(UserName=user_name)["PolicyNames"])


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_enforce_detaches_the_extra_policies_and_deletes_the_inline_one(
    iam: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    before = {name: policies(iam, name) for name in ("teststadion", "admin")}

    summary = lambda_handler(payload(iam, "DBSuperUser"), None)

    assert policies(iam, "DBSuperUser") == ([], [])
    assert summary["status"] == "remediated" and summary["user"] == "DBSuperUser" and not summary["dry_run"]
    assert sorted((c["action"], c["policy_name"], c["outcome"]) for c in summary["changes"]) == [
        ("delete_inline_policy", "LegacyDbAccess", "done"),
        ("detach_managed_policy", "DBBackupOperatorPolicy", "done"),
        ("detach_managed_policy", "DatabaseAdminPolicy", "done"),
    ]
    # The blog's DBSuperUser never had the approved policy: the function does not grant it, and says so.
    assert summary["expected_after"] == {"compliance": "NON_COMPLIANT", "annotation": "missing MyIAMUserPolicy"}
    changes = [line for line in log_lines(capsys) if line["event"] == "remediation.change"]
    assert len(changes) == 3 and {line["outcome"] for line in changes} == {"done"}
    (inline,) = [line for line in changes if line["action"] == "delete_inline_policy"]
    assert inline["policy_document"] == INLINE_DOCUMENT  # logged before deletion, so it can be put back
    assert {name: policies(iam, name) for name in ("teststadion", "admin")} == before


def test_the_approved_policy_is_kept_and_the_user_ends_compliant(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    summary = lambda_handler(payload(iam, "appdev"), None)
    assert policies(iam, "appdev") == (["MyIAMUserPolicy"], [])
    assert summary["expected_after"]["compliance"] == "COMPLIANT"


def test_dry_run_is_the_default_changes_nothing_and_logs_what_it_would_do(
    iam: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    before = policies(iam, "DBSuperUser")
    summary = lambda_handler(payload(iam, "DBSuperUser"), None)
    assert policies(iam, "DBSuperUser") == before
    assert summary["status"] == "dry-run" and summary["dry_run"]
    lines = log_lines(capsys)
    would = [(line["action"], line["policy_name"]) for line in lines if line["event"] == "remediation.change"]
    assert sorted(would) == [
        ("delete_inline_policy", "LegacyDbAccess"),
        ("detach_managed_policy", "DBBackupOperatorPolicy"),
        ("detach_managed_policy", "DatabaseAdminPolicy"),
    ]
    assert {line["outcome"] for line in lines if line["event"] == "remediation.change"} == {"would"}


@pytest.mark.parametrize("value", ["yes please", "", "TRUE"])
def test_anything_but_an_explicit_no_is_a_dry_run(iam: Any, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DRY_RUN", value)
    before = policies(iam, "DBSuperUser")
    assert lambda_handler(payload(iam, "DBSuperUser"), None)["status"] == "dry-run"
    assert policies(iam, "DBSuperUser") == before


def test_a_payload_asking_for_a_dry_run_changes_nothing_even_when_enforcing(
    iam: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    before = policies(iam, "DBSuperUser")
    assert lambda_handler(payload(iam, "DBSuperUser", dry_run=True), None)["status"] == "dry-run"
    assert policies(iam, "DBSuperUser") == before


def test_a_user_in_the_exception_list_is_untouched(iam_with_aws_policies: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    iam = iam_with_aws_policies
    admin_id = iam.get_user(UserName="admin")["User"]["UserId"]
    monkeypatch.setenv("DRY_RUN", "false")
    # by name as the rule's exceptionList writes it, whatever the spacing or case (IAM names are unique
    # regardless of case), or by the unique id the notifier's own `exceptions` needs
    for exception_list in ("admin,breakglass", " Admin , breakglass ", f"breakglass,{admin_id}"):
        monkeypatch.setenv("EXCEPTION_LIST", exception_list)
        summary = lambda_handler(payload(iam, "admin"), None)
        assert summary["status"] == "excepted" and summary["changes"] == [], exception_list
        assert policies(iam, "admin") == (["AdministratorAccess"], ["BreakGlassNotes"])
    monkeypatch.setenv("EXCEPTION_LIST", "breakglass")
    assert lambda_handler(payload(iam, "admin"), None)["status"] == "remediated"  # the same user, not excepted
    assert policies(iam, "admin") == ([], [])


def test_a_compliant_user_is_untouched(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    summary = lambda_handler(payload(iam, "teststadion"), None)
    assert summary["status"] == "nothing-to-do" and summary["changes"] == []
    assert policies(iam, "teststadion") == (["MyIAMUserPolicy"], [])


def test_a_second_run_changes_nothing(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    event = payload(iam, "DBSuperUser")
    assert lambda_handler(event, None)["status"] == "remediated"
    again = lambda_handler(event, None)  # AWS may deliver one async event twice
    assert again["status"] == "nothing-to-do" and again["changes"] == []


def test_a_configured_approved_policy_is_the_one_kept(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "false")
    monkeypatch.setenv("DESIRED_POLICY_NAME", "DatabaseAdminPolicy")
    lambda_handler(payload(iam, "DBSuperUser"), None)
    assert policies(iam, "DBSuperUser") == (["DatabaseAdminPolicy"], [])


def test_the_user_is_found_by_unique_id_past_the_first_page(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for number in range(120):  # ListUsers answers 100 at a time
        iam.create_user(UserName=f"aaa-filler-{number:03d}")
    monkeypatch.setenv("DRY_RUN", "false")
    assert lambda_handler(payload(iam, "DBSuperUser"), None)["status"] == "remediated"


def test_what_it_does_not_act_on(iam: Any) -> None:
    assert lambda_handler(payload(iam, "DBSuperUser", resource_id="AIDAGONE0000000000000"), None)["status"] == (
        "not-found"  # deleted since the notification
    )
    role = outgoing(resource_type="AWS::IAM::Role", resource_id="AROAEXAMPLE")
    assert lambda_handler(build_payload(role, destination="d", dry_run=False, requested_at=NOW), None)["status"] == (
        "skipped"
    )


def test_the_handler_builds_one_iam_client_per_container(aws_credentials: None) -> None:
    real = example.iam_client
    real.cache_clear()
    with mock_aws():
        boto3.client("iam", region_name="us-east-1").create_user(UserName="someone")
        assert real() is real()
        assert [user["UserName"] for user in real().list_users()["Users"]] == ["someone"]
    real.cache_clear()


@pytest.mark.parametrize(
    "event",
    [
        {"version": 2, "type": "compliance.remediation", "notification": {}},
        {"version": 1, "type": "something.else", "notification": {}},
        {"version": 1, "type": "compliance.remediation", "notification": {"resource_id": "AIDA"}},
        ["not", "an", "object"],
    ],
)
def test_a_payload_it_cannot_read_is_an_error_not_a_guess(iam: Any, event: Any) -> None:
    with pytest.raises(ValueError, match=r"payload|remediation"):
        lambda_handler(event, None)


def _policy(iam: Any, name: str) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    return str(iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"])


def _user(iam: Any, name: str, managed: list[str], *, inline: str | None = None) -> None:
    iam.create_user(UserName=name)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    if inline:
        iam.put_user_policy(UserName=name, PolicyName=inline, PolicyDocument=json.dumps(INLINE_DOCUMENT))
