"""password-policy: one periodic verdict on the account, against moto's IAM password policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from notifier.rules import RuleParameterError, run_rule
from notifier.rules import evaluator as evaluator_module
from notifier.rules.password_policy import RULE, lambda_handler

from .support import ACCOUNT, World, aws_world, event

STRONG = {
    "MinimumPasswordLength": 16,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
    "HardExpiry": True,
}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with aws_world() as created:
        monkeypatch.setattr(evaluator_module, "default_clients", lambda: created.clients)
        yield created


def judged(
    world: World, parameters: dict[str, str] | None = None, prefix: str = "ScheduledNotification__10"
) -> tuple[str, str]:
    loaded = event(prefix, parameters=parameters or {})
    lambda_handler(loaded, None)
    (entry,) = world.config.put_calls[-1]["Evaluations"]
    assert (entry["ComplianceResourceType"], entry["ComplianceResourceId"]) == ("AWS::::Account", ACCOUNT)
    return entry["ComplianceType"], entry["Annotation"]


def test_an_account_without_a_password_policy_is_non_compliant_and_says_so(world: World) -> None:
    assert judged(world, prefix="ScheduledNotification__01") == (  # the AWS documentation's periodic event
        "NON_COMPLIANT",
        "the account has no password policy (IAM defaults apply: 8 characters, no rules)",
    )


def test_a_policy_that_meets_every_requirement_is_compliant(world: World) -> None:
    world.iam.update_account_password_policy(**STRONG)
    assert judged(world, {"HardExpiry": "true"}) == ("COMPLIANT", "the password policy meets every requirement")


def test_a_weak_policy_is_non_compliant_naming_every_gap(world: World) -> None:
    world.iam.update_account_password_policy(MinimumPasswordLength=8, RequireNumbers=True, PasswordReusePrevention=5)
    compliance, annotation = judged(world, {"HardExpiry": "true"})
    assert compliance == "NON_COMPLIANT"
    assert annotation == (
        "password policy requires no lowercase letters; requires no symbols; requires no uppercase letters; "
        "minimum length 8 < 14; remembers 5 passwords < 24; max age never > 90 days; no hard expiry"
    )


def test_parameters_lower_or_switch_off_requirements(world: World) -> None:
    world.iam.update_account_password_policy(
        MinimumPasswordLength=10, RequireNumbers=True, RequireLowercaseCharacters=True
    )
    relaxed = {
        "MinimumPasswordLength": "10",
        "RequireSymbols": "False",  # read without case, unlike the managed rule
        "RequireUppercaseCharacters": "false",
        "PasswordReusePrevention": "0",
        "MaxPasswordAge": "0",  # no forced rotation
    }
    assert judged(world, relaxed)[0] == "COMPLIANT"
    assert judged(world, {**relaxed, "MaxPasswordAge": "30"}) == (
        "NON_COMPLIANT",
        "password policy max age never > 30 days",
    )


def test_a_change_trigger_is_not_this_rules_business(world: World) -> None:
    loaded = event("ConfigurationItemChangeNotification__10", parameters={})
    lambda_handler(loaded, None)
    (entry,) = world.config.evaluations
    assert entry["ComplianceType"] == "NOT_APPLICABLE"


@pytest.mark.parametrize(
    ("parameters", "named", "message"),
    [
        ({"MinimumPasswordLength": "14x"}, "MinimumPasswordLength", "must be a whole number"),
        ({"MinimumPasswordLength": "4"}, "MinimumPasswordLength", "at least 6"),
        ({"RequireSymbols": "yes please"}, "RequireSymbols", "true or false"),
    ],
)
def test_a_malformed_parameter_is_an_error_naming_it(
    world: World, parameters: dict[str, str], named: str, message: str
) -> None:
    def quiet(record: dict[str, Any]) -> None:
        pass

    with pytest.raises(RuleParameterError, match=message) as caught:
        run_rule(RULE, event("ScheduledNotification__10", parameters=parameters), world.clients, log=quiet)
    assert caught.value.name == named
    assert world.config.put_calls == []
