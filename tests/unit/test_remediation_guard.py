"""The guard's decision and its settings, without AWS: `decide` is fed a plain dictionary of counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notifier.destinations.base import DestinationSpec
from notifier.errors import NotifierError
from notifier.remediation.guard import (
    DEFAULT_BREAKER_MAX,
    DEFAULT_MAX_PER_HOUR,
    DEFAULT_TRANSITIONS,
    GuardSettings,
    breaker_bucket,
    decide,
    recorded_buckets,
    rule_bucket,
)
from notifier.transition import TransitionKind
from tests.remediation_support import DBSUPERUSER_ID, RULE, iam_notification

NOW = datetime(2025, 11, 20, 10, 20, tzinfo=UTC)
VIOLATED = TransitionKind.VIOLATED


class FixedCounts:
    """Counts per bucket, whatever the window; it remembers which buckets were read."""

    def __init__(self, **per_bucket: int) -> None:
        self.per_bucket = per_bucket
        self.read: list[tuple[str, datetime]] = []

    def count_events(self, bucket: str, *, since: datetime) -> int:
        self.read.append((bucket, since))
        return self.per_bucket.get(bucket, 0)


def settings(**options: Any) -> GuardSettings:
    return GuardSettings.from_spec(DestinationSpec("fixer", "lambda", {"function": "iam-fixer", **options}))


def counts(*, wanted: int = 0, remediated: int = 0) -> FixedCounts:
    return FixedCounts(**{breaker_bucket("fixer"): wanted, rule_bucket("fixer", RULE): remediated})


def test_the_defaults_are_cautious() -> None:
    s = settings()
    assert not s.enforce and s.transitions == DEFAULT_TRANSITIONS
    assert s.transitions == {TransitionKind.FIRST_VIOLATION, TransitionKind.VIOLATED}
    assert (s.max_per_hour, s.breaker_max, s.breaker_window) == (
        DEFAULT_MAX_PER_HOUR,
        DEFAULT_BREAKER_MAX,
        timedelta(hours=1),
    )
    assert s.allow_rules is None and s.allow_accounts is None and s.exceptions == frozenset()


def test_every_guard_in_its_order() -> None:
    everything_wrong = iam_notification(rule="other-rule", account="999999999999")
    strict = settings(mode="enforce", allow_rules=[RULE], allow_accounts=["123456789012"], exceptions=[DBSUPERUSER_ID],
                      max_per_hour=1, breaker={"max": 1})  # fmt: skip
    full = counts(wanted=1, remediated=1)
    assert decide(strict, everything_wrong, TransitionKind.RESOLVED, full, NOW) == "none"
    assert decide(strict, everything_wrong, VIOLATED, full, NOW) == "blocked:rule-not-allowed"
    assert decide(strict, everything_wrong._replace(rule=RULE), VIOLATED, full, NOW) == "blocked:account-not-allowed"
    n = iam_notification()
    assert decide(strict, n, VIOLATED, full, NOW) == "blocked:excepted-resource"
    other_user = n._replace(resource_id="AIDAOTHER")
    assert decide(strict, other_user, VIOLATED, full, NOW) == "blocked:circuit-breaker"
    assert decide(strict, other_user, VIOLATED, counts(remediated=1), NOW) == "blocked:rate-limit"
    assert decide(strict, other_user, VIOLATED, counts(), NOW) == "invoke"
    assert decide(settings(breaker={"max": 1}, max_per_hour=1), other_user, VIOLATED, full, NOW) == (
        "blocked:circuit-breaker"  # dry-run mode reports the block enforce would have met
    )
    assert decide(settings(), other_user, VIOLATED, counts(), NOW) == "dry-run"


def test_scope_checks_read_no_counts_and_the_windows_are_the_hour_and_the_breakers() -> None:
    seen = counts()
    assert (
        decide(settings(allow_rules=["nothing"]), iam_notification(), VIOLATED, seen, NOW) == "blocked:rule-not-allowed"
    )
    assert seen.read == []  # a blocked scope costs no state-store read
    decide(settings(breaker={"window": "10m"}), iam_notification(), VIOLATED, seen, NOW)
    assert seen.read == [
        (breaker_bucket("fixer"), NOW - timedelta(minutes=10)),
        (rule_bucket("fixer", RULE), NOW - timedelta(hours=1)),
    ]


def test_limits_allow_exactly_their_number() -> None:
    s = settings(mode="enforce", allow_rules=["*"], max_per_hour=3, breaker={"max": 5})
    n = iam_notification()
    assert decide(s, n, VIOLATED, counts(wanted=4, remediated=2), NOW) == "invoke"
    assert decide(s, n, VIOLATED, counts(wanted=4, remediated=3), NOW) == "blocked:rate-limit"
    assert decide(s, n, VIOLATED, counts(wanted=5, remediated=0), NOW) == "blocked:circuit-breaker"
    assert decide(settings(max_per_hour=0), n, VIOLATED, counts(), NOW) == "blocked:rate-limit"  # the kill switch


def test_what_is_counted_after_each_action() -> None:
    s = settings()
    both = (breaker_bucket("fixer"), rule_bucket("fixer", RULE))
    assert recorded_buckets(s, RULE, "invoke") == both
    assert recorded_buckets(s, RULE, "dry-run") == both
    assert recorded_buckets(s, RULE, "blocked:rate-limit") == (breaker_bucket("fixer"),)
    assert recorded_buckets(s, RULE, "blocked:circuit-breaker") == (breaker_bucket("fixer"),)
    for action in ("none", "blocked:rule-not-allowed", "blocked:account-not-allowed", "blocked:excepted-resource"):
        assert recorded_buckets(s, RULE, action) == ()


def test_globs_and_custom_transitions() -> None:
    s = settings(allow_rules="standardized-*", allow_accounts=["1234567890[0-9][0-9]"], transitions=["retired"])
    assert decide(s, iam_notification(), TransitionKind.RETIRED, counts(), NOW) == "dry-run"
    assert decide(s, iam_notification(), VIOLATED, counts(), NOW) == "none"


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"function": None}, "needs `function`"),
        ({"function": "my function"}, "not a Lambda function name"),
        ({"function": "arn:aws:lambda:eu-west-1:123456789012:function:f", "region": "us-east-1"}, "differs"),
        ({"region": "Ireland"}, "not an AWS region"),
        ({"mode": "yes"}, "dry-run or enforce"),
        ({"mode": "enforce"}, "needs allow_rules"),
        ({"transitions": []}, "at least one"),
        ({"transitions": ["fixed"]}, "unknown kind"),
        ({"allow_rules": ["std-[iam"]}, "never closed"),
        ({"allow_accounts": []}, "must not be empty"),
        ({"exceptions": [""]}, "non-empty strings"),
        ({"max_per_hour": -1}, "at least 0"),
        ({"max_per_hour": True}, "whole number"),
        ({"breaker": {"max": 0}}, "breaker.max"),
        ({"breaker": {"window": "2d"}}, "at most 24h"),
        ({"breaker": {"window": "soon"}}, "not a duration"),
        ({"breaker": {"limit": 3}}, "only max"),
        ({"url": "https://x"}, "unknown option(s) url"),
    ],
)
def test_bad_options_are_refused_when_the_destination_is_built(options: dict[str, Any], words: str) -> None:
    with pytest.raises(NotifierError, match="destination 'fixer': ") as raised:
        settings(**options)
    assert words in str(raised.value)


def test_a_function_arn_gives_the_region_and_a_name_leaves_it_to_the_default() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:iam-fixer:live"
    assert settings(function=arn).region == "eu-west-1"
    assert settings(function=arn, region="eu-west-1").region == "eu-west-1"
    assert settings(function="iam-fixer:live").region is None
    assert settings(region="ap-southeast-2").region == "ap-southeast-2"
