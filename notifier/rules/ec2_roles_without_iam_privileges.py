"""ec2-roles-without-iam-privileges: a role that EC2 can assume is allowed no IAM action at all.

Lambda handler: `notifier.rules.ec2_roles_without_iam_privileges.lambda_handler`. Triggers:
configuration changes of AWS::IAM::Role, and a schedule (every role, read through IAM; run it daily,
because a new version of an attached managed policy changes no role's configuration item).

Why: an instance's role credentials are one SSRF or one shell away from whoever reaches the instance;
with any `iam:` permission they can grant themselves more. Even "harmless" ones count: `iam:List*`
maps the account for an attacker and `iam:CreateServiceLinkedRole` creates roles.

A role is an EC2 role when its trust policy lets `ec2.amazonaws.com` assume it (see `policy_trust`:
a `Principal` of `*` counts, conditions do not excuse). Its inline and attached managed policies must
not allow any action matching `iam:*` that an unconditional Deny does not take away again; an Allow
under a condition still counts, and the annotation says "allowed under a condition".

    COMPLIANT       an EC2 role allowed no iam action
    NON_COMPLIANT   an EC2 role allowed at least one (the annotation names the statements and patterns);
                    or a policy that cannot be analysed
    NOT_APPLICABLE  a role EC2 cannot assume (the rule's question does not arise, and a role that stops
                    trusting EC2 is out of scope, not "fixed"); an excepted or service-linked role;
                    a deleted role

Parameters: `exceptionList`, `includeServiceLinkedRoles` (see `policy_rule`).
"""

from __future__ import annotations

from ..transition import Compliance
from .base import Verdict
from .evaluator import lambda_handler_for
from .policy_analysis import PolicySet
from .policy_rule import PrincipalPolicyRule
from .policy_sources import IAM_ROLE, Principal
from .policy_trust import EC2_PRINCIPALS, who_can_assume

ANY_IAM_ACTION = "iam:*"


class Ec2RolesWithoutIamPrivileges(PrincipalPolicyRule):
    name = "ec2-roles-without-iam-privileges"
    resource_types = frozenset({IAM_ROLE})
    periodic_resource_types = frozenset({IAM_ROLE})  # a periodic run lists every role

    def out_of_scope(self, principal: Principal) -> str | None:
        trusted = who_can_assume(principal.trust_policy or {"Statement": []}, EC2_PRINCIPALS, "trust policy")
        return None if trusted else "not an EC2 role: its trust policy does not let ec2.amazonaws.com assume it"

    def judge(self, principal: Principal, policies: PolicySet) -> Verdict:
        answer = policies.allowance(ANY_IAM_ACTION)
        if answer.allowed:
            return Verdict(Compliance.NON_COMPLIANT, f"EC2 role: {answer.reason()}")
        denied = f" (denied by {', '.join(str(s.where) for s in answer.denied_by)})" if answer.denied_by else ""
        return Verdict(Compliance.COMPLIANT, f"EC2 role allowed no iam action{denied}")


RULE = Ec2RolesWithoutIamPrivileges()
lambda_handler = lambda_handler_for(RULE)
