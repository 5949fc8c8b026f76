"""One route's `match` block, compiled once into a predicate cheap enough for every notification.

How a match block reads (DESIGN.md, "Routing config"): every key present must hold; a list means
any of its items; the string keys (rule, resource_type, account, region, resource_id) may be shell
globs; `from`, `to` and `transition` name compliance states and transition kinds.

THE UNCHANGED RULE: a match block without a `transition` key matches every transition kind EXCEPT
`unchanged`. AWS Config re-sends results that did not change (periodic re-evaluations, recorder
restarts); routing those by default would page people for nothing. A route receives them only when
it lists `unchanged` in `transition` explicitly.

How it stays cheap:
  * `from`, `to` and `transition` are all functions of the (old, new) compliance pair, so they fold
    into one bitmask over the 20 possible pairs; a notification computes its pair's bit once and
    each route tests it with a single `&`.
  * strings without glob characters go into a frozenset (a hash lookup, no regex at all); the globs
    of one field are joined into ONE compiled regex, so a list of ten globs costs one `match` call.
  * each field test is a C-level callable (`frozenset.__contains__`, `Pattern.match`) paired with an
    `operator.attrgetter`, so the per-route loop does no string-keyed lookups.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from ..notification import ComplianceNotification
from ..transition import Compliance, Transition, TransitionKind, transition_kind

# Match keys compared with a notification attribute of the same name.
STRING_FIELDS = ("rule", "resource_type", "account", "region", "resource_id")
STATE_FIELDS = ("from", "to", "transition")
MATCH_KEYS = STRING_FIELDS + STATE_FIELDS

_GLOB_CHARS = frozenset("*?[")

# Bit i stands for the i-th possible (old, new) pair; `new` is never NONE.
_PAIRS: tuple[tuple[Compliance, Compliance], ...] = tuple(
    (old, new) for old in Compliance for new in Compliance if new is not Compliance.NONE
)
# Nested dicts rather than a tuple key: StrEnum hashes are cached str hashes, a fresh tuple's is not.
_PAIR_BIT: dict[Compliance, dict[Compliance, int]] = {}
for _index, (_old, _new) in enumerate(_PAIRS):
    _PAIR_BIT.setdefault(_old, {})[_new] = 1 << _index

# The default when a match block says nothing about transitions: everything but `unchanged`.
DEFAULT_KINDS = frozenset(TransitionKind) - {TransitionKind.UNCHANGED}

FieldTest = Callable[[str], object]  # truthy when the value matches


def pair_bit(transition: Transition) -> int:
    """The bit of this transition's (old, new) pair: computed once per notification, tested per route."""
    return _PAIR_BIT[transition.old][transition.new]


def has_glob(text: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(text)


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` is not a usable glob, or None.

    fnmatch never fails: an unbalanced `[` silently becomes a literal bracket, which is almost
    certainly not what the author meant, so it is reported here instead.
    """
    index, length = 0, len(pattern)
    while index < length:
        if pattern[index] == "[":
            end = index + 1
            if end < length and pattern[end] == "!":
                end += 1
            if end < length and pattern[end] == "]":  # a leading ']' is a member, as in fnmatch
                end += 1
            while end < length and pattern[end] != "]":
                end += 1
            if end >= length:
                return f"the glob {pattern!r} has a '[' at position {index + 1} that is never closed by ']'"
            index = end
        index += 1
    return None


def compile_field(values: str | Sequence[str]) -> FieldTest:
    """A test for one string field: exact values by set membership, globs by one combined regex."""
    items = [values] if isinstance(values, str) else list(values)
    if not items:
        raise ValueError("a match list must not be empty (it would match nothing)")
    exact = frozenset(item for item in items if not has_glob(item))
    globs = [item for item in items if has_glob(item)]
    for glob in globs:
        problem = glob_problem(glob)
        if problem:
            raise ValueError(problem)
    if not globs:
        return exact.__contains__
    # fnmatch.translate gives "(?s:...)\Z" per glob; one alternation keeps it to one regex call.
    search = re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs)).match
    if not exact:
        return search

    def exact_or_glob(value: str) -> bool:
        return value in exact or search(value) is not None

    return exact_or_glob


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def compile_pair_mask(match: Mapping[str, Any]) -> int:
    """Fold `from`, `to` and `transition` (with the unchanged rule) into one bitmask of allowed pairs."""
    olds = {Compliance(v) for v in _as_list(match["from"])} if "from" in match else set(Compliance)
    news = {Compliance(v) for v in _as_list(match["to"])} if "to" in match else set(Compliance) - {Compliance.NONE}
    if Compliance.NONE in news:
        raise ValueError("`to` cannot be NONE: only the old result of a first evaluation is NONE")
    # The unchanged rule: no `transition` key means every kind except `unchanged`.
    kinds = {TransitionKind(v) for v in _as_list(match["transition"])} if "transition" in match else DEFAULT_KINDS
    mask = 0
    for old, new in _PAIRS:
        if old in olds and new in news and transition_kind(old, new) in kinds:
            mask |= _PAIR_BIT[old][new]
    return mask


@dataclass(frozen=True, slots=True)
class Matcher:
    """A compiled match block. `matches` is for callers; the route tree uses `matches_bit` directly."""

    pair_mask: int
    field_tests: tuple[tuple[Callable[[ComplianceNotification], str], FieldTest], ...]

    def matches_bit(self, notification: ComplianceNotification, bit: int) -> bool:
        if not self.pair_mask & bit:
            return False
        return all(test(read(notification)) for read, test in self.field_tests)

    def matches(self, notification: ComplianceNotification, transition: Transition) -> bool:
        return self.matches_bit(notification, pair_bit(transition))


def compile_match(match: Mapping[str, Any] | None) -> Matcher:
    """Compile one (already schema-valid) match block; a missing block matches all but `unchanged`.

    Raises ValueError for what would make the block meaningless (unknown key, empty list, bad glob,
    `to: NONE`); `config.py` reports those, located, before ever calling this.
    """
    match = match or {}
    unknown = sorted(set(match) - set(MATCH_KEYS))
    if unknown:
        raise ValueError(f"unknown match key(s): {', '.join(unknown)}")
    # Checked in the order most likely to reject: rule names are the most selective field.
    tests = tuple(
        (attrgetter(field), compile_field(match[field])) for field in STRING_FIELDS if field in match
    )
    return Matcher(pair_mask=compile_pair_mask(match), field_tests=tests)
