"""Configuration items as a rule reads them, and the IAM parts decoded.

Config hands a rule the same item in two spellings: the invoking event's (`awsAccountId`, `ARN`,
`configuration` as an object, times as ISO strings) and GetResourceConfigHistory's for an oversized
item (`accountId`, `arn`, `configuration` as a JSON string, times as datetimes). Both become one
`ConfigurationItem`, so a rule never learns which path its item took.

IAM items carry every policy document URL-encoded (RFC 3986, either compact or the console's pretty
JSON); the accessors below decode them once, into plain dicts, and raise `MalformedConfigurationItem`
naming the field when something is not what Config documents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import unquote

PolicyDocument = dict[str, Any]

# Statuses of an item whose resource is gone; rdklib and the Config guide name both.
DELETED_STATUSES = frozenset({"ResourceDeleted", "ResourceDeletedNotRecorded"})

# Where each IAM resource type keeps its inline policies.
_INLINE_POLICY_LISTS = {
    "AWS::IAM::User": "userPolicyList",
    "AWS::IAM::Role": "rolePolicyList",
    "AWS::IAM::Group": "groupPolicyList",
}


class MalformedConfigurationItem(ValueError):
    """A configuration item (or a part of it) is not shaped as Config documents it."""

    def __init__(self, where: str, problem: str):
        self.where = where
        super().__init__(f"configuration item {where}: {problem}")


@dataclass(frozen=True, slots=True)
class ConfigurationItem:
    resource_type: str
    resource_id: str
    resource_name: str | None
    arn: str | None
    account_id: str
    aws_region: str | None
    status: str  # configurationItemStatus: OK, ResourceDiscovered, ResourceDeleted, ...
    capture_time: datetime | None
    configuration: Mapping[str, Any] | None  # null for a deleted resource
    supplementary_configuration: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_deleted(self) -> bool:
        return self.status in DELETED_STATUSES

    @property
    def config(self) -> Mapping[str, Any]:
        """The configuration, or a clear error when the item has none (a deleted resource)."""
        if self.configuration is None:
            raise MalformedConfigurationItem("configuration", f"is null for {self.resource_type} {self.resource_id}")
        return self.configuration

    @classmethod
    def from_notification(cls, raw: Mapping[str, Any]) -> ConfigurationItem:
        """From the invoking event's `configurationItem` (or an oversized event's summary, whose
        configuration is missing and stays None)."""
        return cls(
            resource_type=_required_text(raw, "resourceType"),
            resource_id=_required_text(raw, "resourceId"),
            resource_name=raw.get("resourceName"),
            arn=raw.get("ARN"),
            account_id=str(raw.get("awsAccountId") or ""),
            aws_region=raw.get("awsRegion"),
            status=str(raw.get("configurationItemStatus") or ""),
            capture_time=parse_time(raw.get("configurationItemCaptureTime")),
            configuration=_mapping_or_none(raw.get("configuration"), "configuration"),
            supplementary_configuration=raw.get("supplementaryConfiguration") or {},
            tags=raw.get("tags") or {},
        )

    @classmethod
    def from_history(cls, raw: Mapping[str, Any]) -> ConfigurationItem:
        """From one GetResourceConfigHistory `configurationItems` entry (the API's spelling)."""
        configuration = raw.get("configuration")
        if isinstance(configuration, str):
            try:
                configuration = json.loads(configuration)
            except ValueError as error:
                raise MalformedConfigurationItem("configuration", f"is not JSON ({error})") from None
        supplementary = {
            key: _json_or_text(value) for key, value in (raw.get("supplementaryConfiguration") or {}).items()
        }
        return cls(
            resource_type=_required_text(raw, "resourceType"),
            resource_id=_required_text(raw, "resourceId"),
            resource_name=raw.get("resourceName"),
            arn=raw.get("arn"),
            account_id=str(raw.get("accountId") or ""),
            aws_region=raw.get("awsRegion"),
            status=str(raw.get("configurationItemStatus") or ""),
            capture_time=parse_time(raw.get("configurationItemCaptureTime")),
            configuration=_mapping_or_none(configuration, "configuration"),
            supplementary_configuration=supplementary,
            tags=raw.get("tags") or {},
        )


class InlinePolicy(NamedTuple):
    name: str
    document: PolicyDocument


class AttachedPolicy(NamedTuple):
    name: str
    arn: str


class PolicyVersion(NamedTuple):
    version_id: str
    is_default: bool
    document: PolicyDocument


def decode_policy_document(encoded: str | Mapping[str, Any], where: str = "policy document") -> PolicyDocument:
    """A policy document as a dict, from Config's URL-encoded JSON text (or an already decoded dict,
    as boto3's IAM calls return them)."""
    if isinstance(encoded, Mapping):
        return dict(encoded)
    if not isinstance(encoded, str):
        raise MalformedConfigurationItem(where, f"is a {type(encoded).__name__}, not URL-encoded JSON text")
    try:
        document = json.loads(unquote(encoded))
    except ValueError as error:
        raise MalformedConfigurationItem(where, f"is not URL-encoded JSON ({error})") from None
    if not isinstance(document, dict):
        raise MalformedConfigurationItem(where, "is not a JSON object")
    return document


def inline_policies(item: ConfigurationItem) -> tuple[InlinePolicy, ...]:
    """The inline policies of an IAM user, role or group (a null list, as 2018 items carry, is none)."""
    list_name = _INLINE_POLICY_LISTS.get(item.resource_type)
    if list_name is None:
        raise MalformedConfigurationItem("resourceType", f"{item.resource_type} has no inline policies")
    policies = []
    for index, entry in enumerate(_list(item.config, list_name)):
        where = f"configuration.{list_name}[{index}]"
        name = _entry_text(entry, "policyName", where)
        policies.append(
            InlinePolicy(name, decode_policy_document(entry.get("policyDocument"), f"{where}.policyDocument"))
        )
    return tuple(policies)


def attached_managed_policies(item: ConfigurationItem) -> tuple[AttachedPolicy, ...]:
    """The managed policies (AWS or customer) attached to an IAM user, role or group."""
    return tuple(
        AttachedPolicy(
            _entry_text(entry, "policyName", f"configuration.attachedManagedPolicies[{index}]"),
            _entry_text(entry, "policyArn", f"configuration.attachedManagedPolicies[{index}]"),
        )
        for index, entry in enumerate(_list(item.config, "attachedManagedPolicies"))
    )


def group_names(item: ConfigurationItem) -> tuple[str, ...]:
    """The groups an IAM user belongs to (Config lists their names)."""
    names = _list(item.config, "groupList")
    if not all(isinstance(name, str) for name in names):
        raise MalformedConfigurationItem("configuration.groupList", "holds something other than group names")
    return tuple(names)


def policy_versions(item: ConfigurationItem) -> tuple[PolicyVersion, ...]:
    """The versions of an IAM managed policy, each with its decoded document."""
    versions = []
    for index, entry in enumerate(_list(item.config, "policyVersionList")):
        where = f"configuration.policyVersionList[{index}]"
        version_id = _entry_text(entry, "versionId", where)
        document = decode_policy_document(entry.get("document"), f"{where}.document")
        versions.append(PolicyVersion(version_id, entry.get("isDefaultVersion") is True, document))
    return tuple(versions)


def default_policy_version(item: ConfigurationItem) -> PolicyVersion | None:
    """The version IAM applies: the one flagged default, else the one `defaultVersionId` names."""
    versions = policy_versions(item)
    flagged = [version for version in versions if version.is_default]
    if flagged:
        return flagged[0]
    named = item.config.get("defaultVersionId")
    return next((version for version in versions if version.version_id == named), None)


def role_trust_policy(item: ConfigurationItem) -> PolicyDocument:
    """The trust policy (`assumeRolePolicyDocument`) of an IAM role."""
    if item.resource_type != "AWS::IAM::Role":
        raise MalformedConfigurationItem("resourceType", f"{item.resource_type} has no trust policy")
    encoded = item.config.get("assumeRolePolicyDocument")
    if encoded is None:
        raise MalformedConfigurationItem("configuration.assumeRolePolicyDocument", "is missing")
    return decode_policy_document(encoded, "configuration.assumeRolePolicyDocument")


def parse_time(value: Any) -> datetime | None:
    """A Config time (ISO 8601 with Z, a datetime, or epoch seconds) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedConfigurationItem("time", f"{value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _list(configuration: Mapping[str, Any], name: str) -> Sequence[Any]:
    value = configuration.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise MalformedConfigurationItem(f"configuration.{name}", f"is a {type(value).__name__}, not a list")
    return value


def _entry_text(entry: Any, key: str, where: str) -> str:
    if not isinstance(entry, Mapping) or not isinstance(entry.get(key), str):
        raise MalformedConfigurationItem(f"{where}.{key}", "is missing or not text")
    return str(entry[key])


def _required_text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedConfigurationItem(key, "is missing")
    return value


def _mapping_or_none(value: Any, where: str) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise MalformedConfigurationItem(where, f"is a {type(value).__name__}, not an object")


def _json_or_text(value: Any) -> Any:
    """The history API sends supplementary configuration values as JSON text; the event sends objects."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
