"""IAM action patterns (`iam:Create*`, `ec2:?escribe*`, `*`) as sets of action names, and the one
question the policy analyser asks of them: is there an action name inside some sets and outside
others?

A policy statement and a query are both patterns, so "is any `iam:*` action allowed by `Allow
NotAction s3:*` and not removed by `Deny iam:Create*`?" is a question about sets of strings, not
about one name. Listing every real action name would answer it too, but the list changes every week
and a rule must not ship a copy of it; so the sets stay infinite and the search walks them as
automata instead. Each constraint (a list of patterns to match at least one of, or none of) is one
automaton whose state is the set of (pattern, position) pairs still alive; all of them step in lock
step over the characters action names are made of, breadth first, until a state satisfies every
constraint. Breadth first means the example found is the shortest such name.

Because the search admits any syntactically valid name, not only names AWS has defined, the answer
errs on the side of "yes": `iam:*` minus `Deny iam:Get*, iam:List*, ...` is still "allowed" while
any name is left over, even one AWS never made. For a compliance rule that is the safe direction.
"""

from __future__ import annotations

import string
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

# Every character of a real action name, lowercased: the service prefix is lowercase letters, digits
# and hyphens, the action name letters and digits (matching is case-insensitive, per the IAM guide).
ACTION_ALPHABET = string.ascii_lowercase + string.digits + "-:"

Pair = tuple[int, int]  # (which pattern of the constraint, position in it)
Pairs = frozenset[Pair]

_SHAPE_START, _SHAPE_SERVICE, _SHAPE_COLON, _SHAPE_NAME = range(4)


def normalise(pattern: str) -> str:
    """Action names and patterns compare case-insensitively; casefold once, here."""
    return pattern.strip().lower()


@dataclass(frozen=True, slots=True)
class Constraint:
    """A set of patterns an action must match at least one of (`inside=True`) or none of.

    Build it with `any_of` / `none_of`, which casefold the patterns.
    """

    patterns: tuple[str, ...]
    inside: bool
    # Where each pattern's final run of stars starts: standing there, every suffix matches.
    _tails: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tails", tuple(len(pattern.rstrip("*")) for pattern in self.patterns))

    @classmethod
    def any_of(cls, patterns: Iterable[str]) -> Constraint:
        return cls(tuple(normalise(p) for p in patterns), inside=True)

    @classmethod
    def none_of(cls, patterns: Iterable[str]) -> Constraint:
        return cls(tuple(normalise(p) for p in patterns), inside=False)

    def start(self) -> Pairs:
        return self._closure((index, 0) for index in range(len(self.patterns)))

    def step(self, pairs: Pairs, char: str) -> Pairs:
        moved: list[Pair] = []
        for index, position in pairs:
            pattern = self.patterns[index]
            if position == len(pattern):
                continue
            token = pattern[position]
            if token == "*":
                moved.append((index, position))  # the star swallows the character and may go on
            elif token == "?" or token == char:
                moved.append((index, position + 1))
        return self._closure(moved)

    def accepts(self, pairs: Pairs) -> bool:
        return any(position == len(self.patterns[index]) for index, position in pairs) == self.inside

    def hopeless(self, pairs: Pairs) -> bool:
        """No continuation can satisfy it: nothing left to match, or something already matches any suffix."""
        if self.inside:
            return not pairs
        return any(self._tails[index] <= position < len(self.patterns[index]) for index, position in pairs)

    def _closure(self, pairs: Iterable[Pair]) -> Pairs:
        """A `*` may match nothing, so standing before one is also standing after it."""
        result = set()
        for index, position in pairs:
            pattern = self.patterns[index]
            result.add((index, position))
            while position < len(pattern) and pattern[position] == "*":
                position += 1
                result.add((index, position))
        return frozenset(result)


def matches(pattern: str, action: str) -> bool:
    """Whether one action name (or any text) is in the pattern's set."""
    constraint = Constraint.any_of([pattern])
    pairs = constraint.start()
    for char in normalise(action):
        pairs = constraint.step(pairs, char)
    return constraint.accepts(pairs)


class _SearchState(NamedTuple):
    automata: tuple[Pairs, ...]  # one per constraint
    shape: int  # how far into the `service:name` shape the text is (see _next_shape)


def find_action(constraints: Sequence[Constraint]) -> str | None:
    """The shortest action name (`service:name`) that satisfies every constraint, or None if none does."""
    first = _SearchState(tuple(constraint.start() for constraint in constraints), _SHAPE_START)
    if any(c.hopeless(pairs) for c, pairs in zip(constraints, first.automata, strict=True)):
        return None
    seen = {first}
    queue: deque[tuple[_SearchState, str]] = deque([(first, "")])
    while queue:
        state, text = queue.popleft()
        if state.shape == _SHAPE_NAME and all(
            c.accepts(pairs) for c, pairs in zip(constraints, state.automata, strict=True)
        ):
            return text
        for char in ACTION_ALPHABET:
            shape = _next_shape(state.shape, char)
            if shape is None:
                continue
            automata = []
            for constraint, pairs in zip(constraints, state.automata, strict=True):
                moved = constraint.step(pairs, char)
                if constraint.hopeless(moved):
                    break
                automata.append(moved)
            else:
                following = _SearchState(tuple(automata), shape)
                if following not in seen:
                    seen.add(following)
                    queue.append((following, text + char))
    return None


def overlaps(*constraints: Constraint) -> bool:
    return find_action(constraints) is not None


def prefixes_agree(first: str, second: str) -> bool:
    """A cheap necessary condition for two patterns to share a name: their literal starts agree.

    False means they cannot overlap (`iam:Get*` and `iam:Create*`); True means "search to know".
    """
    for a, b in zip(normalise(first), normalise(second), strict=False):
        if a in "*?" or b in "*?":
            return True
        if a != b:
            return False
    # The shorter one is all literal and agrees: the longer must add nothing but stars.
    shorter, longer = sorted((normalise(first), normalise(second)), key=len)
    return longer[len(shorter) :].strip("*") == ""


def _next_shape(shape: int, char: str) -> int | None:
    """Only `service:name` texts are action names: a non-empty prefix, one colon, a non-empty name."""
    if char == ":":
        return _SHAPE_COLON if shape == _SHAPE_SERVICE else None
    if shape in (_SHAPE_START, _SHAPE_SERVICE):
        return _SHAPE_SERVICE
    if char == "-":  # hyphens belong to service prefixes only
        return None
    return _SHAPE_NAME
