"""The guard rails of auto-remediation: validated settings and the one decision, `decide`.

`decide` answers, for one notification at one instant, what the `lambda` destination does:

    "none"                      the transition is not one this destination remediates (by default only
                                first_violation and violated are): nothing to do, and nothing stopped
    "blocked:rule-not-allowed"  the rule matches no `allow_rules` glob
    "blocked:account-not-allowed"  the account matches no `allow_accounts` glob
    "blocked:excepted-resource" the resource id is in `exceptions`
    "blocked:circuit-breaker"   `breaker.max` resources already wanted remediating within `breaker.window`
    "blocked:rate-limit"        `max_per_hour` remediations of this rule already in the last hour
    "dry-run"                   every guard passed, but `mode` is dry-run (the default)
    "invoke"                    every guard passed in `mode: enforce`

checked in that order: what the config says about scope first (cheap, and no state read at all), then
the counters, breaker before rate limit (a storm is the louder news), and the mode last, so a dry run
reports exactly what enforce would have done, blocks included.

Why "none" rather than "blocked:…" for other transitions: a route that sends every kind to a ticket and
to this destination is normal, and a `resolved` that does not remediate is not a guard stopping
something. Keeping "blocked:" for guard rails keeps that word worth alerting on.

What is counted (by the caller, after acting; `recorded_buckets` says which):
  * the breaker bucket counts DEMAND: every resource that passed the scope checks, whether invoked,
    rehearsed, rate-limited or blocked by the breaker itself. A storm keeps the breaker open until it has
    been quiet for a whole window; remediation never resumes in the middle of one.
  * the rule bucket counts FLOW: remediations invoked (or rehearsed in dry-run), so a steady stream gets
    `max_per_hour` through each hour rather than being starved by its own blocked attempts.
  * dry-run counts like enforce, so a storm trips the breaker in a rehearsal too, and the counts carry
    over (cautiously) when the mode is switched to enforce.
Counters are per destination ("remediation:<destination>:…"), as their limits are.

Counting then recording is not atomic (two state-store calls): processes racing between the two can
each see room for one more, so a limit may be exceeded by at most the number of notifier invocations
running at once (the Lambda's concurrency). That is acceptable for what these limits are for, catching
storms and runaway loops of hundreds, and making it atomic would need a conditional counter per window
in every backend, with fixed windows instead of sliding ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from ..destinations.base import DestinationSpec
from ..durations import parse_duration
from ..errors import NotifierError
from ..notification import ComplianceNotification
from ..routing.matchers import FieldTest, compile_field
from ..state.base import EVENT_RETENTION
from ..transition import TransitionKind

INVOKE = "invoke"
DRY_RUN = "dry-run"
NOTHING = "none"
RATE_WINDOW = timedelta(hours=1)

DEFAULT_TRANSITIONS = frozenset({TransitionKind.FIRST_VIOLATION, TransitionKind.VIOLATED})
# Guard rails are on unless the config says otherwise: mass remediation should be a person's decision.
DEFAULT_MAX_PER_HOUR = 10
DEFAULT_BREAKER_MAX = 25
DEFAULT_BREAKER_WINDOW = timedelta(hours=1)

_COMMON_KEYS = frozenset({"template", "dry_run", "timeout", "rate_limit"})
_KEYS = _COMMON_KEYS | {
    "function", "region", "mode", "transitions", "allow_rules", "allow_accounts", "exceptions",
    "max_per_hour", "breaker",
}  # fmt: skip
# Lambda's own pattern for FunctionName (name, name:qualifier, partial or full ARN); the region of a
# full ARN is captured, because the client must call that region.
_FUNCTION = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:(?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9_.-]+)(:(\$LATEST|[a-zA-Z0-9_-]+))?"
)
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


class Blocked(StrEnum):
    RULE_NOT_ALLOWED = "rule-not-allowed"
    ACCOUNT_NOT_ALLOWED = "account-not-allowed"
    EXCEPTED_RESOURCE = "excepted-resource"
    CIRCUIT_BREAKER = "circuit-breaker"
    RATE_LIMIT = "rate-limit"

    @property
    def action(self) -> str:
        return f"blocked:{self.value}"


class EventCounts(Protocol):
    """What `decide` reads: a StateStore, or an in-process `EventLog` when there is none."""

    def count_events(self, bucket: str, *, since: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class GuardSettings:
    destination: str
    function: str  # name, name:qualifier, or ARN, as written
    region: str | None  # the client's region: `region`, else a full ARN's, else the default
    enforce: bool
    transitions: frozenset[TransitionKind]
    allow_rules: FieldTest | None  # None: every rule
    allow_accounts: FieldTest | None  # None: every account
    exceptions: frozenset[str]
    max_per_hour: int  # remediations per rule per sliding hour; 0 stops them all (a kill switch)
    breaker_max: int
    breaker_window: timedelta
    breaker_notify: tuple[str, ...] = ()  # destinations told when the breaker trips, once per window

    @classmethod
    def from_spec(cls, spec: DestinationSpec) -> GuardSettings:
        """Validate the options; any mistake is a NotifierError naming the destination and the key."""
        options, name = spec.options, spec.name

        def problem(sentence: str) -> NotifierError:
            return NotifierError(f"destination {name!r}: {sentence}")

        unknown = sorted(set(options) - _KEYS)
        if unknown:
            raise problem(f"unknown option(s) {', '.join(unknown)} for a lambda destination")
        function, region = _function_and_region(options, problem)
        mode = options.get("mode", "dry-run")
        if mode not in ("dry-run", "enforce"):
            raise problem(f"mode must be dry-run or enforce, not {mode!r}")
        if mode == "enforce" and not options.get("allow_rules"):
            # A remediation function is written for particular rules; sending it another rule's resources
            # is how a fixer deletes the wrong thing. The route alone is too easy to widen by accident.
            raise problem("mode enforce needs allow_rules: name the rules this function may remediate")
        breaker = options.get("breaker") or {}
        if not isinstance(breaker, Mapping) or set(breaker) - {"max", "window", "notify"}:
            raise problem("breaker takes only max (a count), window (a duration) and notify (destinations)")
        return cls(
            destination=name,
            function=function,
            region=region,
            enforce=mode == "enforce",
            transitions=_transitions(options.get("transitions"), problem),
            allow_rules=_globs(options, "allow_rules", problem),
            allow_accounts=_globs(options, "allow_accounts", problem),
            exceptions=frozenset(_strings(options.get("exceptions", []), "exceptions", problem)),
            max_per_hour=_count(options.get("max_per_hour", DEFAULT_MAX_PER_HOUR), "max_per_hour", 0, problem),
            breaker_max=_count(breaker.get("max", DEFAULT_BREAKER_MAX), "breaker.max", 1, problem),
            breaker_window=_window(breaker.get("window"), problem),
            breaker_notify=tuple(_strings(breaker.get("notify", []), "breaker.notify", problem)),
        )


def decide(
    settings: GuardSettings,
    notification: ComplianceNotification,
    kind: TransitionKind,
    counts: EventCounts,
    now: datetime,
) -> str:
    """What the destination does now (see the module docstring). No side effects: it only reads
    `counts`, and only when the scope checks have passed."""
    if kind not in settings.transitions:
        return NOTHING
    if settings.allow_rules is not None and not settings.allow_rules(notification.rule):
        return Blocked.RULE_NOT_ALLOWED.action
    if settings.allow_accounts is not None and not settings.allow_accounts(notification.account):
        return Blocked.ACCOUNT_NOT_ALLOWED.action
    if notification.resource_id in settings.exceptions:
        return Blocked.EXCEPTED_RESOURCE.action
    if breaker_count(settings, counts, now) >= settings.breaker_max:
        return Blocked.CIRCUIT_BREAKER.action
    recent = counts.count_events(rule_bucket(settings.destination, notification.rule), since=now - RATE_WINDOW)
    if recent >= settings.max_per_hour:
        return Blocked.RATE_LIMIT.action
    return INVOKE if settings.enforce else DRY_RUN


def breaker_count(settings: GuardSettings, counts: EventCounts, now: datetime) -> int:
    """Resources that wanted remediating through this destination within the breaker's window."""
    return counts.count_events(breaker_bucket(settings.destination), since=now - settings.breaker_window)


def recorded_buckets(settings: GuardSettings, rule: str, action: str) -> tuple[str, ...]:
    """The buckets to count once `action` has been carried out (an invoke only after it succeeded)."""
    if action in (INVOKE, DRY_RUN):
        return (breaker_bucket(settings.destination), rule_bucket(settings.destination, rule))
    if action in (Blocked.CIRCUIT_BREAKER.action, Blocked.RATE_LIMIT.action):
        return (breaker_bucket(settings.destination),)
    return ()


def breaker_bucket(destination: str) -> str:
    return f"remediation:{destination}:all"


def rule_bucket(destination: str, rule: str) -> str:
    return f"remediation:{destination}:rule:{rule}"


# -- option parsing -------------------------------------------------------------------------------------


class _Problem(Protocol):
    def __call__(self, sentence: str) -> NotifierError: ...


def _function_and_region(options: Mapping[str, Any], problem: _Problem) -> tuple[str, str | None]:
    function = options.get("function")
    if not isinstance(function, str) or not function:
        raise problem("a lambda destination needs `function`: the remediation function's name or ARN")
    match = _FUNCTION.fullmatch(function)
    if match is None or len(function) > 256:
        raise problem(f"function {function!r} is not a Lambda function name, name:alias or ARN")
    region = options.get("region")
    if region is not None and (not isinstance(region, str) or not _REGION.fullmatch(region)):
        raise problem(f"region {region!r} is not an AWS region such as eu-west-1")
    arn_region = match.group("region")
    if region and arn_region and region != arn_region:
        raise problem(f"region {region} differs from the region in the function ARN ({arn_region})")
    return function, region or arn_region


def _transitions(value: Any, problem: _Problem) -> frozenset[TransitionKind]:
    if value is None:
        return DEFAULT_TRANSITIONS
    names = _strings(value, "transitions", problem)
    if not names:
        raise problem("transitions must name at least one transition kind")
    try:
        return frozenset(TransitionKind(name) for name in names)
    except ValueError:
        known = ", ".join(kind.value for kind in TransitionKind)
        raise problem(f"transitions {names} holds an unknown kind (known: {known})") from None


def _globs(options: Mapping[str, Any], key: str, problem: _Problem) -> FieldTest | None:
    if key not in options:
        return None
    try:
        return compile_field(_strings(options[key], key, problem))
    except ValueError as error:
        raise problem(f"{key}: {error}") from None


def _strings(value: Any, key: str, problem: _Problem) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) and item for item in items):
        raise problem(f"{key} must be a string or a list of non-empty strings")
    return list(items)


def _count(value: Any, key: str, minimum: int, problem: _Problem) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise problem(f"{key} must be a whole number of at least {minimum}, not {value!r}")
    return value


def _window(value: Any, problem: _Problem) -> timedelta:
    if value is None:
        return DEFAULT_BREAKER_WINDOW
    try:
        window = parse_duration(value)
    except (ValueError, TypeError) as error:
        raise problem(f"breaker.window: {error}") from None
    if not timedelta(0) < window <= EVENT_RETENTION:
        # The state stores forget events older than EVENT_RETENTION: a longer window would undercount.
        longest = f"{EVENT_RETENTION.total_seconds() / 3600:g}h"
        raise problem(f"breaker.window must be more than 0 and at most {longest}, not {value!r}")
    return window
