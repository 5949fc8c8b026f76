"""no-role-modifies-security-groups: no IAM role may change security groups, except the listed ones.

Lambda handler: `notifier.rules.no_role_modifies_security_groups.lambda_handler`. Triggers:
configuration changes of AWS::IAM::Role, and a schedule (every role, read through IAM; run it daily,
because a new version of an attached managed policy changes no role's configuration item).

Security groups are the network's firewall; the roles that may open them should be few and named. A
role is judged on its inline and attached managed policies (any trust: EC2, Lambda, people, CI), for
the EC2 actions that create, delete or change a security group or its rules (`SECURITY_GROUP_ACTIONS`,
the operations of the EC2 API that write a group, from botocore's EC2 model). Left out on purpose:
actions that choose which groups a resource uses (ModifyInstanceAttribute,
ModifyNetworkInterfaceAttribute, ApplySecurityGroupsToClientVpnTargetNetwork): they attach existing
groups, they do not open ports; and CreateTags, which labels a group.

    COMPLIANT       the role is allowed none of them
    NON_COMPLIANT   it is allowed at least one, or under a condition (the annotation names the actions
                    and the statements); or a policy that cannot be analysed
    NOT_APPLICABLE  the role is in exceptionList, is service-linked, or was deleted

Parameters: `exceptionList` (the roles that may: network automation, say), `includeServiceLinkedRoles`
(see `policy_rule`).
"""

from __future__ import annotations

from ..transition import Compliance
from .base import Verdict
from .evaluator import lambda_handler_for
from .policy_analysis import PolicySet, summarise
from .policy_rule import PrincipalPolicyRule
from .policy_sources import IAM_ROLE, Principal

SECURITY_GROUP_ACTIONS = (
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules",
    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
    "ec2:CreateSecurityGroup",
    "ec2:DeleteSecurityGroup",
    "ec2:AssociateSecurityGroupVpc",  # lets a group be used in another VPC (2024)
    "ec2:DisassociateSecurityGroupVpc",
)


class NoRoleModifiesSecurityGroups(PrincipalPolicyRule):
    name = "no-role-modifies-security-groups"
    resource_types = frozenset({IAM_ROLE})
    periodic_resource_types = frozenset({IAM_ROLE})  # a periodic run lists every role

    def judge(self, principal: Principal, policies: PolicySet) -> Verdict:
        allowed = policies.allowed(SECURITY_GROUP_ACTIONS)
        if not allowed:
            return Verdict(Compliance.COMPLIANT, "allowed no security-group changing action")
        if len(allowed) == len(SECURITY_GROUP_ACTIONS):
            prefix = f"may change security groups, all {len(allowed)} actions: "
        else:
            prefix = "may change security groups: "
        return Verdict(Compliance.NON_COMPLIANT, prefix + summarise(allowed, names_shown=3))


RULE = NoRoleModifiesSecurityGroups()
lambda_handler = lambda_handler_for(RULE)
