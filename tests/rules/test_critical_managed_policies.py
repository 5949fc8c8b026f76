"""critical-managed-policies-unchanged on the two-version policy item, and on moto's IAM periodically."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from notifier.rules import RuleParameterError, run_rule
from notifier.rules import evaluator as evaluator_module
from notifier.rules.config_items import ConfigurationItem, policy_versions
from notifier.rules.critical_managed_policies_unchanged import RULE, document_sha256, lambda_handler

from .support import World, aws_world, event

NAME = "CodeBuildBasePolicy-billing-api-us-east-1"
ARN = "arn:aws:iam::123456789012:policy/service-role/CodeBuildBasePolicy-billing-api-us-east-1"
POLICY_ID = "ANPAEASL5HBPPW32HLF47"
ITEM = "ConfigurationItemChangeNotification__17"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with aws_world() as created:
        monkeypatch.setattr(evaluator_module, "default_clients", lambda: created.clients)
        yield created


def quiet(record: dict[str, Any]) -> None:
    pass


def raw_item() -> dict[str, Any]:
    item: dict[str, Any] = json.loads(event(ITEM)["invokingEvent"])["configurationItem"]
    return item


def hashes() -> dict[str, str]:
    """The canonical hash of each version of the fixture's policy."""
    versions = policy_versions(ConfigurationItem.from_notification(raw_item()))
    return {version.version_id: document_sha256(version.document) for version in versions}


def judged(world: World, approved: dict[str, str], item: dict[str, Any] | None = None) -> tuple[str, str]:
    loaded = event(ITEM, parameters={"approvedVersions": json.dumps(approved)})
    if item is not None:
        invoking = json.loads(loaded["invokingEvent"])
        invoking["configurationItem"] = item
        loaded["invokingEvent"] = json.dumps(invoking)
    lambda_handler(loaded, None)
    (entry,) = world.config.put_calls[-1]["Evaluations"]
    assert (entry["ComplianceResourceType"], entry["ComplianceResourceId"]) == ("AWS::IAM::Policy", POLICY_ID)
    return entry["ComplianceType"], entry["Annotation"]


def test_the_approved_default_version_that_is_also_the_latest_is_compliant(world: World) -> None:
    assert judged(world, {NAME: "v2"}) == ("COMPLIANT", f"{NAME}: v2 is the default and the latest version")
    assert judged(world, {ARN: "v2"})[0] == "COMPLIANT"  # a key may be the ARN


def test_a_new_default_version_after_the_approved_one_is_non_compliant_and_shows_its_hash(world: World) -> None:
    assert judged(world, {NAME: "v1"}) == ("NON_COMPLIANT", f"{NAME}: default is v2 ({hashes()['v2']}), approved is v1")


def test_a_staged_version_newer_than_the_approved_default_is_non_compliant(world: World) -> None:
    item = raw_item()
    item["configuration"]["defaultVersionId"] = "v1"
    for version in item["configuration"]["policyVersionList"]:
        version["isDefaultVersion"] = version["versionId"] == "v1"
    assert judged(world, {NAME: "v1"}, item) == ("NON_COMPLIANT", f"{NAME}: new version(s) v2 after approved v1")


def test_an_approved_hash_pins_the_content_of_the_default_version(world: World) -> None:
    assert judged(world, {NAME: hashes()["v2"]}) == ("COMPLIANT", f"{NAME}: default v2 has the approved document")
    assert judged(world, {NAME: hashes()["v1"]}) == (
        "NON_COMPLIANT",
        f"{NAME}: default v2 is {hashes()['v2']}, not the approved document",
    )


def test_the_same_document_redeployed_as_a_new_version_keeps_an_approved_hash(world: World) -> None:
    item = raw_item()
    versions = item["configuration"]["policyVersionList"]
    same_document = policy_versions(ConfigurationItem.from_notification(raw_item()))[0].document
    compact = quote(json.dumps(same_document, separators=(",", ":")), safe="")  # another layout, same content
    redeployed = {**versions[0], "versionId": "v3", "document": compact}
    versions[0]["isDefaultVersion"] = False
    item["configuration"]["policyVersionList"] = [redeployed, *versions]
    item["configuration"]["defaultVersionId"] = "v3"
    assert judged(world, {NAME: hashes()["v2"]}, item)[0] == "COMPLIANT"


def test_a_policy_that_is_not_critical_is_not_applicable(world: World) -> None:
    assert judged(world, {"SomethingElse": "v1"}) == (
        "NOT_APPLICABLE",
        f"{NAME} is not a critical policy (not in approvedVersions)",
    )


def test_an_empty_approved_versions_object_names_no_critical_policy(world: World) -> None:
    """The deployment's default: the rule runs, and judges nothing until policies are listed."""
    assert judged(world, {})[0] == "NOT_APPLICABLE"


def test_the_canonical_hash_ignores_layout_and_key_order() -> None:
    pretty = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    reordered = {"Statement": [{"Resource": "*", "Action": "s3:GetObject", "Effect": "Allow"}], "Version": "2012-10-17"}
    assert document_sha256(pretty) == document_sha256(reordered)
    assert document_sha256(pretty).startswith("sha256:") and len(document_sha256(pretty)) == 7 + 64


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "is missing"),
        ({"approvedVersions": "{not json"}, "is not JSON"),
        ({"approvedVersions": "[]"}, "must be a JSON object"),
        ({"approvedVersions": json.dumps({NAME: "3"})}, "must be a version id"),
        ({"approvedVersions": json.dumps({NAME: "sha256:abc"})}, "must be a version id"),
    ],
)
def test_a_missing_or_malformed_approved_versions_is_an_error_naming_it(
    world: World, parameters: dict[str, str], message: str
) -> None:
    with pytest.raises(RuleParameterError, match=message) as caught:
        run_rule(RULE, event(ITEM, parameters=parameters), world.clients, log=quiet)
    assert caught.value.name == "approvedVersions"
    assert world.config.put_calls == []


DOCUMENT_V1 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
DOCUMENT_V2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def test_a_periodic_run_reads_the_policies_from_iam(world: World) -> None:
    iam = world.iam
    billing = iam.create_policy(PolicyName="BillingAdmin", PolicyDocument=json.dumps(DOCUMENT_V1))["Policy"]
    audit = iam.create_policy(PolicyName="AuditRead", PolicyDocument=json.dumps(DOCUMENT_V1))["Policy"]
    iam.create_policy(PolicyName="NotCritical", PolicyDocument=json.dumps(DOCUMENT_V2))
    approved = {"BillingAdmin": "v1", "AuditRead": document_sha256(DOCUMENT_V1), "DeletedLongAgo": "v4"}
    scheduled = event("ScheduledNotification__10", parameters={"approvedVersions": json.dumps(approved)})
    logged: list[dict[str, Any]] = []
    run_rule(RULE, scheduled, world.clients, log=logged.append)
    assert world.config.verdict(billing["PolicyId"])[0] == "COMPLIANT"
    assert world.config.verdict(audit["PolicyId"])[0] == "COMPLIANT"
    assert len(world.config.evaluations) == 2  # NotCritical is not evaluated

    iam.create_policy_version(PolicyArn=billing["Arn"], PolicyDocument=json.dumps(DOCUMENT_V2), SetAsDefault=False)
    iam.create_policy_version(PolicyArn=audit["Arn"], PolicyDocument=json.dumps(DOCUMENT_V2), SetAsDefault=True)
    run_rule(RULE, scheduled, world.clients, log=quiet)
    assert world.config.verdict(billing["PolicyId"]) == (
        "NON_COMPLIANT",
        "BillingAdmin: new version(s) v2 after approved v1",
    )
    assert world.config.verdict(audit["PolicyId"]) == (
        "NON_COMPLIANT",
        f"AuditRead: default v2 is {document_sha256(DOCUMENT_V2)}, not the approved document",
    )


def test_a_policy_dropped_from_the_parameter_is_retired_by_the_next_periodic_run(world: World) -> None:
    billing = world.iam.create_policy(PolicyName="BillingAdmin", PolicyDocument=json.dumps(DOCUMENT_V1))["Policy"]
    both = {"approvedVersions": json.dumps({"BillingAdmin": "v1", "Other": "v1"})}
    run_rule(RULE, event("ScheduledNotification__10", parameters=both), world.clients, log=quiet)
    only_other = {"approvedVersions": json.dumps({"Other": "v1"})}
    run_rule(RULE, event("ScheduledNotification__10", parameters=only_other), world.clients, log=quiet)
    assert world.config.verdict(billing["PolicyId"])[0] == "NOT_APPLICABLE"
