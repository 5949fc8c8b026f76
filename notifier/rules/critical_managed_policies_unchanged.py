"""critical-managed-policies-unchanged: the customer managed policies named in `approvedVersions` still
have the approved content; any new version makes them NON_COMPLIANT.

Lambda handler: `notifier.rules.critical_managed_policies_unchanged.lambda_handler`. Triggers:
configuration changes of AWS::IAM::Policy (the item's `defaultVersionId` and `policyVersionList`), and a
schedule (IAM list_policies, list_policy_versions, get_policy_version). One parameter:

    approvedVersions   required, a JSON object as text: policy name (or policy ARN) → what is approved,
                       either a version id ("v3") or the SHA-256 of the document ("sha256:<64 hex>"):
                       {"BillingAdmin": "v3", "BreakGlassAccess": "sha256:9f86d0…"}

A version id pins the exact version: NON_COMPLIANT when another version is the default, or when a version
newer than the approved one exists (staged: one set-default-policy-version away from being live).
A hash pins the content, so re-deploying the same document as a new version stays COMPLIANT:
NON_COMPLIANT when the default version's document hashes differently, or when a version newer than the
default holds another document. The hash is SHA-256 of the canonical JSON (keys sorted, no spaces,
UTF-8): `document_sha256` computes it, and the annotation of a NON_COMPLIANT policy shows the hash of
what it found, so approving a reviewed change is a copy and paste.

A policy not named in the parameter is NOT_APPLICABLE; "{}" (the deployment's default) names none, so
every policy is NOT_APPLICABLE until someone lists the critical ones. A named policy missing from the account is
logged (its deletion reached Config as a change: NOT_APPLICABLE then).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..transition import Compliance
from .base import AwsClients, ConfigRule, Evaluation, Invocation, Verdict
from .config_items import ConfigurationItem, PolicyDocument, PolicyVersion, decode_policy_document, policy_versions
from .evaluator import lambda_handler_for, log_line
from .parameters import RuleParameterError, RuleParameters

IAM_POLICY = "AWS::IAM::Policy"
_VERSION_ID = re.compile(r"^v[1-9][0-9]*$")
_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def document_sha256(document: PolicyDocument) -> str:
    """ "sha256:<hex>" of the canonical JSON of a policy document (independent of its layout)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Settings:
    approved: Mapping[str, str]  # policy name or ARN → "vN" or "sha256:…"

    def approval_for(self, name: str, arn: str) -> str | None:
        return self.approved.get(arn) or self.approved.get(name)


@dataclass(frozen=True, slots=True)
class PolicyState:
    name: str
    arn: str
    default_version_id: str
    versions: Sequence[PolicyVersion]


def judge(policy: PolicyState, approved: str) -> Verdict:
    """The verdict on one critical policy against what is approved for it."""
    default = next((v for v in policy.versions if v.version_id == policy.default_version_id), None)
    if default is None:
        return Verdict(
            Compliance.NON_COMPLIANT, f"{policy.name}: default version {policy.default_version_id} not found"
        )
    found = document_sha256(default.document)
    if approved.startswith("sha256:"):
        newer = [
            v.version_id
            for v in policy.versions
            if _number(v) > _number(default) and document_sha256(v.document) != approved
        ]
        if found != approved:
            return Verdict(
                Compliance.NON_COMPLIANT,
                f"{policy.name}: default {default.version_id} is {found}, not the approved document",
            )
        if newer:
            return Verdict(
                Compliance.NON_COMPLIANT, f"{policy.name}: new version(s) {', '.join(newer)} hold another document"
            )
        return Verdict(Compliance.COMPLIANT, f"{policy.name}: default {default.version_id} has the approved document")
    newer = [v.version_id for v in policy.versions if _number(v) > int(approved[1:])]
    if default.version_id != approved:
        return Verdict(
            Compliance.NON_COMPLIANT,
            f"{policy.name}: default is {default.version_id} ({found}), approved is {approved}",
        )
    if newer:
        return Verdict(
            Compliance.NON_COMPLIANT, f"{policy.name}: new version(s) {', '.join(newer)} after approved {approved}"
        )
    return Verdict(Compliance.COMPLIANT, f"{policy.name}: {approved} is the default and the latest version")


class CriticalManagedPoliciesUnchanged(ConfigRule[Settings]):
    name = "critical-managed-policies-unchanged"
    resource_types = frozenset({IAM_POLICY})
    periodic_resource_types = frozenset({IAM_POLICY})  # a policy dropped from the parameter is retired

    def parse_parameters(self, parameters: RuleParameters) -> Settings:
        approved = parameters.json_object("approvedVersions")  # "{}" is valid: no critical policy yet
        for policy, value in approved.items():
            if not isinstance(value, str) or not (_VERSION_ID.match(value) or _HASH.match(value)):
                raise RuleParameterError(
                    "approvedVersions",
                    f'value for {policy!r} must be a version id ("v3") or "sha256:<64 hex>", not {value!r}',
                )
        return Settings(approved)

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: Settings, clients: AwsClients
    ) -> Verdict:
        config = configuration_item.config
        name, arn = (
            str(config.get("policyName") or configuration_item.resource_name),
            str(config.get("arn") or configuration_item.arn),
        )
        approved = parameters.approval_for(name, arn)
        if approved is None:
            return Verdict(Compliance.NOT_APPLICABLE, f"{name} is not a critical policy (not in approvedVersions)")
        state = PolicyState(name, arn, str(config.get("defaultVersionId")), policy_versions(configuration_item))
        return judge(state, approved)

    def evaluate_periodic(
        self, parameters: Settings, clients: AwsClients, invocation: Invocation
    ) -> Iterator[Evaluation]:
        iam = clients.iam
        found: set[str] = set()
        for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
            for policy in page["Policies"]:
                approved = parameters.approval_for(policy["PolicyName"], policy["Arn"])
                if approved is None:
                    continue
                found.update({policy["PolicyName"], policy["Arn"]})
                verdict = judge(_policy_state(iam, policy), approved)
                # Config names a managed policy by its policy id (ANPA…): the change verdicts meet these.
                yield Evaluation(IAM_POLICY, policy["PolicyId"], verdict.compliance, verdict.annotation)
        missing = sorted(set(parameters.approved) - found)
        if missing:
            log_line({"event": "rule.warning", "rule": invocation.rule_name, "missing_policies": missing})


def _policy_state(iam: Any, policy: Mapping[str, Any]) -> PolicyState:
    arn = policy["Arn"]
    versions = []
    for page in iam.get_paginator("list_policy_versions").paginate(PolicyArn=arn):
        for version in page["Versions"]:
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version["VersionId"])["PolicyVersion"][
                "Document"
            ]
            where = f"{policy['PolicyName']} {version['VersionId']}"
            versions.append(
                PolicyVersion(
                    version["VersionId"], bool(version["IsDefaultVersion"]), decode_policy_document(document, where)
                )
            )
    return PolicyState(policy["PolicyName"], arn, policy["DefaultVersionId"], versions)


def _number(version: PolicyVersion) -> int:
    return int(version.version_id[1:]) if _VERSION_ID.match(version.version_id) else 0


RULE = CriticalManagedPoliciesUnchanged()
lambda_handler = lambda_handler_for(RULE)
