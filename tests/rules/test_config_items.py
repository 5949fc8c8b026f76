"""Configuration items from both of Config's spellings, and the IAM policy documents decoded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from notifier.rules.config_items import (
    AttachedPolicy,
    ConfigurationItem,
    MalformedConfigurationItem,
    attached_managed_policies,
    decode_policy_document,
    default_policy_version,
    group_names,
    inline_policies,
    policy_versions,
    role_trust_policy,
)

from .support import EVENTS, event


def item(prefix: str) -> ConfigurationItem:
    invoking = json.loads(event(prefix)["invokingEvent"])
    return ConfigurationItem.from_notification(invoking["configurationItem"])


def test_a_user_item_reads_its_identity_and_managed_policies() -> None:
    user = item("ConfigurationItemChangeNotification__11")
    assert (user.resource_type, user.resource_id, user.resource_name) == (
        "AWS::IAM::User",
        "AIDAQX7O4KVVL5QSHX3MJ",
        "DBSuperUser",
    )
    assert user.account_id == "123456789012"
    assert user.capture_time == datetime(2025, 11, 20, 10, 15, 32, 418000, tzinfo=UTC)
    assert not user.is_deleted
    assert attached_managed_policies(user) == (
        AttachedPolicy("DatabaseAdminPolicy", "arn:aws:iam::123456789012:policy/DatabaseAdminPolicy"),
        AttachedPolicy("DBBackupOperatorPolicy", "arn:aws:iam::123456789012:policy/DBBackupOperatorPolicy"),
    )
    assert inline_policies(user) == ()
    assert group_names(user) == ()


def test_a_null_inline_policy_list_of_a_2018_item_is_no_inline_policy() -> None:
    legacy = item("ConfigurationItemChangeNotification__13")
    assert legacy.config["userPolicyList"] is None
    assert inline_policies(legacy) == ()


def test_a_console_encoded_inline_policy_decodes_to_the_same_document_as_a_compact_one() -> None:
    (policy,) = inline_policies(item("ConfigurationItemChangeNotification__14"))
    assert policy.name == "AllowTeamReportsRead"
    assert policy.document["Version"] == "2012-10-17"
    assert isinstance(policy.document["Statement"], list)
    compact = quote(json.dumps(policy.document, separators=(",", ":")), safe="")
    assert decode_policy_document(compact) == policy.document


def test_a_role_item_gives_its_trust_policy_and_inline_policies() -> None:
    role = item("ConfigurationItemChangeNotification__20")
    trust = role_trust_policy(role)
    principals = [statement["Principal"] for statement in trust["Statement"]]
    assert {"Service": "ec2.amazonaws.com"} in principals
    assert [policy.name for policy in inline_policies(role)]
    assert all("Statement" in policy.document for policy in inline_policies(role))


def test_a_group_item_gives_its_inline_policies() -> None:
    group = item("ConfigurationItemChangeNotification__24")
    assert group.resource_type == "AWS::IAM::Group"
    documents = [policy.document for policy in inline_policies(group)]
    assert documents and all(document["Version"] == "2012-10-17" for document in documents)


def test_a_managed_policy_item_gives_its_versions_and_the_default_one() -> None:
    policy = item("ConfigurationItemChangeNotification__17")
    versions = policy_versions(policy)
    assert [(v.version_id, v.is_default) for v in versions] == [("v2", True), ("v1", False)]
    assert len(versions[0].document["Statement"]) == 2 and len(versions[1].document["Statement"]) == 1
    assert default_policy_version(policy) == versions[0]


def test_the_default_version_falls_back_to_default_version_id_when_no_version_is_flagged() -> None:
    raw = json.loads(event("ConfigurationItemChangeNotification__17")["invokingEvent"])["configurationItem"]
    for version in raw["configuration"]["policyVersionList"]:
        version.pop("isDefaultVersion")
    default = default_policy_version(ConfigurationItem.from_notification(raw))
    assert default is not None and default.version_id == "v2"


def test_the_history_api_spelling_gives_the_same_item_as_the_event_spelling() -> None:
    answer = json.loads(next((EVENTS / "history").glob("*.json")).read_text())
    fetched = ConfigurationItem.from_history(answer["configurationItems"][0])
    summary = json.loads(event("OversizedConfigurationItemChangeNotification__10")["invokingEvent"])
    announced = ConfigurationItem.from_notification(summary["configurationItemSummary"])
    same = ("resource_type", "resource_id", "resource_name", "arn", "account_id", "status", "capture_time")
    assert {k: getattr(fetched, k) for k in same} == {k: getattr(announced, k) for k in same}
    assert announced.configuration is None  # the summary has none: that is why the rule fetches it
    assert fetched.config["userName"] == "reporting-svc"
    assert [policy.name for policy in inline_policies(fetched)] == ["ReportingBucketsAccess"]


def test_a_deleted_item_has_no_configuration_and_says_so_clearly() -> None:
    deleted = item("ConfigurationItemChangeNotification__16")
    assert deleted.is_deleted and deleted.configuration is None
    with pytest.raises(MalformedConfigurationItem, match="configuration: is null for AWS::IAM::User"):
        attached_managed_policies(deleted)


@pytest.mark.parametrize(
    ("policy_document", "problem"),
    [("%7B%22Version%22", "not URL-encoded JSON"), (quote("[1, 2]"), "not a JSON object"), (17, "not URL-encoded")],
)
def test_a_malformed_policy_document_is_named_by_its_path(policy_document: Any, problem: str) -> None:
    raw = json.loads(event("ConfigurationItemChangeNotification__14")["invokingEvent"])["configurationItem"]
    raw["configuration"]["userPolicyList"][0]["policyDocument"] = policy_document
    with pytest.raises(MalformedConfigurationItem, match=r"userPolicyList\[0\]\.policyDocument") as caught:
        inline_policies(ConfigurationItem.from_notification(raw))
    assert problem in str(caught.value)


def test_accessors_refuse_a_resource_type_that_has_no_such_part() -> None:
    with pytest.raises(MalformedConfigurationItem, match="has no trust policy"):
        role_trust_policy(item("ConfigurationItemChangeNotification__10"))
    with pytest.raises(MalformedConfigurationItem, match="has no inline policies"):
        inline_policies(item("ConfigurationItemChangeNotification__17"))


def test_an_already_decoded_document_passes_through() -> None:
    document = {"Version": "2012-10-17", "Statement": []}
    assert decode_policy_document(document) == document
