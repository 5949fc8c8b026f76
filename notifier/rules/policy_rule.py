"""What the three permission rules share: judge each IAM principal on the policies attached to it.

A subclass sets `name` and `resource_types` and writes `judge(principal, policies)`; this base reads
the common parameters, skips excepted and service-linked principals, gathers the policies (from the
configuration item, or from IAM on a schedule) and turns an unreadable policy into a finding.

Common parameters:

    exceptionList              optional: comma-separated names, unique ids (AROA…, AIDA…, AGPA…) or ARNs,
                               matched without case (IAM names are unique regardless of case); an
                               excepted principal is NOT_APPLICABLE
    includeServiceLinkedRoles  optional, "true"/"false" (default false): service-linked roles (path
                               /aws-service-role/) are NOT_APPLICABLE unless true. AWS writes and updates
                               their policies and nobody can change them, so a finding on one could never
                               be fixed; several (Elastic Load Balancing, IAM Identity Center) hold
                               security-group or role-creating permissions in every account that uses them.

A principal is judged on the policies attached to it, not those it inherits: a user's group policies
are judged on the group, where they can be fixed, so each finding is reported once. (A Deny in a group
therefore does not excuse an Allow attached to one of its users: the Allow is still there to remove.)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

from ..transition import Compliance
from .base import AwsClients, ConfigRule, Evaluation, Invocation, Verdict
from .config_items import ConfigurationItem
from .parameters import RuleParameters
from .policy_analysis import PolicyDocumentError, PolicySet
from .policy_sources import ManagedPolicyDocuments, Principal, policy_set, principals_in_account


@dataclass(frozen=True, slots=True)
class PrincipalSettings:
    exceptions: frozenset[str]  # casefolded names, unique ids and ARNs
    include_service_linked: bool


class PrincipalPolicyRule(ConfigRule[PrincipalSettings]):
    """A Config rule that judges IAM principals (users, groups, roles) on their attached policies."""

    def parse_parameters(self, parameters: RuleParameters) -> PrincipalSettings:
        return PrincipalSettings(
            exceptions=frozenset(name.casefold() for name in parameters.names("exceptionList")),
            include_service_linked=parameters.flag("includeServiceLinkedRoles", default=False),
        )

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: PrincipalSettings, clients: AwsClients
    ) -> Verdict:
        principal = Principal.from_item(configuration_item)
        return self.verdict(principal, parameters, ManagedPolicyDocuments(clients))

    def evaluate_periodic(
        self, parameters: PrincipalSettings, clients: AwsClients, invocation: Invocation
    ) -> Iterator[Evaluation]:
        principals, documents = principals_in_account(clients, self.resource_types)
        for principal in principals:
            verdict = self.verdict(principal, parameters, documents)
            yield Evaluation(principal.resource_type, principal.resource_id, verdict.compliance, verdict.annotation)

    def verdict(self, principal: Principal, settings: PrincipalSettings, documents: ManagedPolicyDocuments) -> Verdict:
        if principal.known_as(settings.exceptions):
            return Verdict(Compliance.NOT_APPLICABLE, f"{principal.name} is in the exceptionList")
        if principal.is_service_linked and not settings.include_service_linked:
            return Verdict(
                Compliance.NOT_APPLICABLE, f"{principal.name} is a service-linked role: AWS owns its policies"
            )
        try:
            outside = self.out_of_scope(principal)
            if outside:
                return Verdict(Compliance.NOT_APPLICABLE, outside)
            return self.judge(principal, policy_set(principal, documents))
        except PolicyDocumentError as error:
            # A policy this rule cannot read may allow anything: say so rather than call it compliant.
            return Verdict(Compliance.NON_COMPLIANT, f"cannot analyse {error}")

    def out_of_scope(self, principal: Principal) -> str | None:
        """Why the rule does not apply to this principal (NOT_APPLICABLE), or None when it does."""
        return None

    @abstractmethod
    def judge(self, principal: Principal, policies: PolicySet) -> Verdict:
        """The verdict on one principal in scope, from all its attached policies' statements."""
