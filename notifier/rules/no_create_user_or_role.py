"""no-create-user-or-role: no user, group or role may create IAM users or roles, except the listed ones.

Lambda handler: `notifier.rules.no_create_user_or_role.lambda_handler`. Triggers: configuration
changes of AWS::IAM::User, AWS::IAM::Group and AWS::IAM::Role, and a schedule (every principal, read
through IAM; run it daily, because a new version of an attached managed policy changes no principal's
configuration item).

New users and roles are how access outlives an incident: whoever may create one can leave a door that
survives a password reset. So identities are made by the pipeline that owns them (its role goes in
`exceptionList`), never by a person or an application.

Each principal is judged on the policies attached to it (inline and managed), for `iam:CreateUser`
and `iam:CreateRole`. A wildcard (`iam:Create*`, `iam:*`, `*`) or an `Allow NotAction` that does not
list them allows them; an unconditional Deny beside them (in any of the principal's policies) takes
them away; a Deny under a condition (say, only without MFA) does not, since whoever meets the condition
can still create.

AWS::IAM::Policy is not in scope on purpose: a managed policy allows nothing until it is attached, and
once attached it is judged on each principal it is attached to, where the finding can be fixed (detach
it); judging it as well would report every finding twice.

    COMPLIANT       neither action is allowed
    NON_COMPLIANT   one or both are allowed, or under a condition (the annotation names the statements),
                    or a policy cannot be analysed
    NOT_APPLICABLE  the principal is in exceptionList, is a service-linked role, or was deleted

Parameters: `exceptionList`, `includeServiceLinkedRoles` (see `policy_rule`).
"""

from __future__ import annotations

from ..transition import Compliance
from .base import Verdict
from .evaluator import lambda_handler_for
from .policy_analysis import PolicySet, summarise
from .policy_rule import PrincipalPolicyRule
from .policy_sources import IAM_GROUP, IAM_ROLE, IAM_USER, Principal

CREATE_ACTIONS = ("iam:CreateUser", "iam:CreateRole")


class NoCreateUserOrRole(PrincipalPolicyRule):
    name = "no-create-user-or-role"
    resource_types = frozenset({IAM_USER, IAM_GROUP, IAM_ROLE})
    periodic_resource_types = frozenset({IAM_USER, IAM_GROUP, IAM_ROLE})  # a periodic run lists them all

    def judge(self, principal: Principal, policies: PolicySet) -> Verdict:
        answers = policies.allowances(CREATE_ACTIONS)
        allowed = [answer for answer in answers if answer.allowed]
        if allowed:
            return Verdict(Compliance.NON_COMPLIANT, summarise(allowed))
        denials = sorted({str(s.where) for answer in answers for s in answer.denied_by})
        denied = f" (denied by {', '.join(denials)})" if denials else ""
        return Verdict(Compliance.COMPLIANT, f"neither iam:CreateUser nor iam:CreateRole is allowed{denied}")


RULE = NoCreateUserOrRole()
lambda_handler = lambda_handler_for(RULE)
