"""password-policy: the account's IAM password policy meets the parameters.

Lambda handler: `notifier.rules.password_policy.lambda_handler`. Trigger: periodic only (the password
policy is not a Config resource); the one evaluation is on `AWS::::Account`, resource id = the account id
of the event. No password policy at all (IAM answers NoSuchEntity) is NON_COMPLIANT.

Parameters take the names and defaults of the AWS managed rule IAM_PASSWORD_POLICY, so a team can switch
between the two; every one is optional:

    RequireUppercaseCharacters, RequireLowercaseCharacters, RequireSymbols, RequireNumbers   default true
    MinimumPasswordLength     default 14   the policy's minimum must be at least this
    PasswordReusePrevention   default 24   the policy must remember at least this many passwords (0: not checked)
    MaxPasswordAge            default 90   passwords must expire within this many days (0: not checked —
                                           NIST SP 800-63B advises against forced rotation)
    HardExpiry                default false  true: expired passwords need an administrator's reset

Unlike the managed rule, "True"/"TRUE" read as true, and a value that is neither true nor false is an
error naming the parameter rather than a silent false.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..transition import Compliance
from .base import ACCOUNT_RESOURCE_TYPE, AwsClients, ConfigRule, Evaluation, Invocation, Verdict
from .evaluator import lambda_handler_for
from .parameters import RuleParameters

_CHARACTER_CLASSES = {
    "RequireUppercaseCharacters": "uppercase letters",
    "RequireLowercaseCharacters": "lowercase letters",
    "RequireSymbols": "symbols",
    "RequireNumbers": "numbers",
}


@dataclass(frozen=True, slots=True)
class Requirements:
    character_classes: frozenset[str]  # the Require* keys (IAM's names) that must be true
    minimum_length: int
    reuse_prevention: int
    max_age_days: int  # 0: not checked
    hard_expiry: bool


def judge(policy: Mapping[str, Any] | None, required: Requirements) -> Verdict:
    """The verdict on the account password policy (None: the account has none)."""
    if policy is None:
        return Verdict(
            Compliance.NON_COMPLIANT, "the account has no password policy (IAM defaults apply: 8 characters, no rules)"
        )
    gaps = [
        f"requires no {_CHARACTER_CLASSES[key]}" for key in sorted(required.character_classes) if not policy.get(key)
    ]
    length = int(policy.get("MinimumPasswordLength") or 0)
    if length < required.minimum_length:
        gaps.append(f"minimum length {length} < {required.minimum_length}")
    reuse = int(policy.get("PasswordReusePrevention") or 0)
    if reuse < required.reuse_prevention:
        gaps.append(f"remembers {reuse} passwords < {required.reuse_prevention}")
    age = int(policy.get("MaxPasswordAge") or 0)  # absent or 0: passwords never expire
    if required.max_age_days and not 0 < age <= required.max_age_days:
        gaps.append(f"max age {age or 'never'} > {required.max_age_days} days")
    if required.hard_expiry and not policy.get("HardExpiry"):
        gaps.append("no hard expiry")
    if gaps:
        return Verdict(Compliance.NON_COMPLIANT, "password policy " + "; ".join(gaps))
    return Verdict(Compliance.COMPLIANT, "the password policy meets every requirement")


class PasswordPolicy(ConfigRule[Requirements]):
    name = "password-policy"
    resource_types = frozenset({ACCOUNT_RESOURCE_TYPE})
    # periodic_resource_types stays empty: the account never disappears, no sweep needed

    def parse_parameters(self, parameters: RuleParameters) -> Requirements:
        classes = frozenset(key for key in _CHARACTER_CLASSES if parameters.flag(key, default=True))
        return Requirements(
            character_classes=classes,
            minimum_length=_number(parameters, "MinimumPasswordLength", 14, minimum=6),
            reuse_prevention=_number(parameters, "PasswordReusePrevention", 24),
            max_age_days=_number(parameters, "MaxPasswordAge", 90),
            hard_expiry=parameters.flag("HardExpiry", default=False),
        )

    def evaluate_periodic(
        self, parameters: Requirements, clients: AwsClients, invocation: Invocation
    ) -> Iterator[Evaluation]:
        iam = clients.iam
        try:
            policy: Mapping[str, Any] | None = iam.get_account_password_policy()["PasswordPolicy"]
        except iam.exceptions.NoSuchEntityException:
            policy = None
        verdict = judge(policy, parameters)
        yield Evaluation(ACCOUNT_RESOURCE_TYPE, invocation.account_id, verdict.compliance, verdict.annotation)


def _number(parameters: RuleParameters, name: str, default: int, *, minimum: int = 0) -> int:
    value = parameters.integer(name, default, minimum=minimum)
    return default if value is None else value


RULE = PasswordPolicy()
lambda_handler = lambda_handler_for(RULE)
