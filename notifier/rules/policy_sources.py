"""Where an IAM principal's policies come from: its configuration item (a change trigger) or IAM itself
(a periodic run), as one `Principal` either way.

Config items carry a principal's inline policies and trust policy in full, but its attached managed
policies only by name and ARN, so their documents come from IAM (GetPolicy for the default version id,
then GetPolicyVersion; boto3 returns the document already decoded as a dict). A periodic run reads the
whole account with GetAccountAuthorizationDetails, which returns every principal with its inline
policies and every customer managed policy with its versions in one paginated call (IAM throttles
per-principal calls in large accounts); an attached policy it does not return (an AWS managed one) is
fetched like a change trigger's, once per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .base import AwsClients
from .config_items import (
    AttachedPolicy,
    ConfigurationItem,
    InlinePolicy,
    PolicyDocument,
    attached_managed_policies,
    decode_policy_document,
    inline_policies,
    role_trust_policy,
)
from .policy_analysis import NamedPolicy, PolicySet

IAM_USER = "AWS::IAM::User"
IAM_GROUP = "AWS::IAM::Group"
IAM_ROLE = "AWS::IAM::Role"
SERVICE_LINKED_PATH = "/aws-service-role/"  # IAM puts every service-linked role under this path


class _DetailNames(NamedTuple):
    """GetAccountAuthorizationDetails' names for one principal type."""

    filter: str
    entries: str
    name: str
    unique_id: str
    inline_policies: str


_DETAILS = {
    IAM_USER: _DetailNames("User", "UserDetailList", "UserName", "UserId", "UserPolicyList"),
    IAM_GROUP: _DetailNames("Group", "GroupDetailList", "GroupName", "GroupId", "GroupPolicyList"),
    IAM_ROLE: _DetailNames("Role", "RoleDetailList", "RoleName", "RoleId", "RolePolicyList"),
}
# The configuration item's name for each principal type's name field.
_ITEM_NAME = {IAM_USER: "userName", IAM_GROUP: "groupName", IAM_ROLE: "roleName"}


@dataclass(frozen=True, slots=True)
class Principal:
    """An IAM user, group or role and the policies attached to it (not those it inherits)."""

    resource_type: str
    resource_id: str  # the unique id (AIDA…, AGPA…, AROA…), as Config names the resource
    name: str
    arn: str
    path: str
    inline: tuple[InlinePolicy, ...]
    attached: tuple[AttachedPolicy, ...]
    trust_policy: PolicyDocument | None = None  # roles only

    @property
    def is_service_linked(self) -> bool:
        return self.resource_type == IAM_ROLE and self.path.startswith(SERVICE_LINKED_PATH)

    def known_as(self, names: frozenset[str]) -> bool:
        """Whether `names` (casefolded) holds its name, unique id or ARN: IAM names ignore case."""
        return bool({self.name.casefold(), self.resource_id.casefold(), self.arn.casefold()} & names)

    @classmethod
    def from_item(cls, item: ConfigurationItem) -> Principal:
        config = item.config
        return cls(
            resource_type=item.resource_type,
            resource_id=item.resource_id,
            name=str(config.get(_ITEM_NAME.get(item.resource_type, "")) or item.resource_name or item.resource_id),
            arn=str(config.get("arn") or item.arn or ""),
            path=str(config.get("path") or "/"),
            inline=inline_policies(item),
            attached=attached_managed_policies(item),
            trust_policy=role_trust_policy(item) if item.resource_type == IAM_ROLE else None,
        )


class ManagedPolicyDocuments:
    """Default-version documents of managed policies, each read from IAM at most once per run.

    Built per invocation, never per process: a customer managed policy gets new versions, and a rule must
    judge the one in force now.
    """

    def __init__(self, clients: AwsClients, known: Mapping[str, PolicyDocument] | None = None):
        self._clients = clients  # the IAM client is made only when a document must be fetched
        self._documents: dict[str, PolicyDocument | None] = dict(known or {})

    def document(self, arn: str) -> PolicyDocument | None:
        """The default version's document; None when the policy no longer exists (detached since)."""
        if arn not in self._documents:
            self._documents[arn] = self._fetch(arn)
        return self._documents[arn]

    def _fetch(self, arn: str) -> PolicyDocument | None:
        iam = self._clients.iam
        try:
            version_id = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            version = iam.get_policy_version(PolicyArn=arn, VersionId=version_id)["PolicyVersion"]
        except iam.exceptions.NoSuchEntityException:
            # IAM refuses to delete an attached policy, so a missing one was detached after the item was
            # recorded; the detachment is its own configuration change. Other errors (AccessDenied) raise.
            return None
        return decode_policy_document(version["Document"], f"{arn} {version_id}")


def policy_set(principal: Principal, documents: ManagedPolicyDocuments) -> PolicySet:
    """Every statement of the principal's inline and attached managed policies, named as IAM names them.

    Raises PolicyDocumentError when one of them is not a policy document.
    """
    named = [NamedPolicy(policy.name, policy.document) for policy in principal.inline]
    for attached in principal.attached:
        document = documents.document(attached.arn)
        if document is not None:
            named.append(NamedPolicy(attached.name, document))
    return PolicySet.from_documents(named)


def principals_in_account(
    clients: AwsClients, resource_types: Iterable[str]
) -> tuple[list[Principal], ManagedPolicyDocuments]:
    """Every principal of these types in the account, and the managed policy documents seen on the way."""
    kinds = sorted(set(resource_types))
    pages = clients.iam.get_paginator("get_account_authorization_details").paginate(
        Filter=[_DETAILS[kind].filter for kind in kinds] + ["LocalManagedPolicy"]
    )
    principals: list[Principal] = []
    known: dict[str, PolicyDocument] = {}
    for page in pages:
        for kind in kinds:
            principals.extend(_principal(kind, entry) for entry in page.get(_DETAILS[kind].entries, []))
        for policy in page.get("Policies", []):
            default = _default_version(policy)
            if default is not None:
                where = f"{policy['Arn']} {default['VersionId']}"
                known[policy["Arn"]] = decode_policy_document(default["Document"], where)
    return principals, ManagedPolicyDocuments(clients, known)


def _principal(resource_type: str, entry: Mapping[str, Any]) -> Principal:
    names = _DETAILS[resource_type]
    name = str(entry[names.name])
    inline = tuple(
        InlinePolicy(p["PolicyName"], decode_policy_document(p["PolicyDocument"], f"{name} {p['PolicyName']}"))
        for p in entry.get(names.inline_policies) or []
    )
    attached = tuple(
        AttachedPolicy(p["PolicyName"], p["PolicyArn"]) for p in entry.get("AttachedManagedPolicies") or []
    )
    trust = entry.get("AssumeRolePolicyDocument")
    return Principal(
        resource_type=resource_type,
        resource_id=str(entry[names.unique_id]),
        name=name,
        arn=str(entry.get("Arn") or ""),
        path=str(entry.get("Path") or "/"),
        inline=inline,
        attached=attached,
        trust_policy=decode_policy_document(trust, f"{name} AssumeRolePolicyDocument") if trust else None,
    )


def _default_version(policy: Mapping[str, Any]) -> Mapping[str, Any] | None:
    versions: Iterator[Mapping[str, Any]] = iter(policy.get("PolicyVersionList") or [])
    return next((version for version in versions if version.get("IsDefaultVersion")), None)
