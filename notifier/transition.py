"""Compliance states and the old→new transition kinds (a pure, total function).

The table lives in DESIGN.md; every one of the 5×4 from→to pairs maps to exactly one kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Compliance(StrEnum):
    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
    # Not an AWS value: stands for a missing or null oldEvaluationResult (first evaluation).
    NONE = "NONE"


class TransitionKind(StrEnum):
    FIRST_VIOLATION = "first_violation"
    VIOLATED = "violated"
    RESOLVED = "resolved"
    RETIRED = "retired"
    DATA_GAP = "data_gap"
    UNCHANGED = "unchanged"
    BENIGN = "benign"


# What each kind means to a person reading an email or a ticket.
KIND_IN_WORDS: dict[TransitionKind, str] = {
    TransitionKind.FIRST_VIOLATION: "is non-compliant on its first evaluation",
    TransitionKind.VIOLATED: "became non-compliant",
    TransitionKind.RESOLVED: "is compliant again",
    TransitionKind.RETIRED: "is no longer in scope (deleted or not applicable) while non-compliant",
    TransitionKind.DATA_GAP: "has insufficient data to be evaluated",
    TransitionKind.UNCHANGED: "was re-evaluated with an unchanged result",
    TransitionKind.BENIGN: "changed state without a violation",
}


@dataclass(frozen=True, slots=True)
class Transition:
    old: Compliance
    new: Compliance
    kind: TransitionKind

    @property
    def in_words(self) -> str:
        return KIND_IN_WORDS[self.kind]

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind.value, "from": self.old.value, "to": self.new.value}


def transition_kind(old: Compliance, new: Compliance) -> TransitionKind:
    if old == new:
        return TransitionKind.UNCHANGED
    if new is Compliance.NON_COMPLIANT:
        return TransitionKind.FIRST_VIOLATION if old is Compliance.NONE else TransitionKind.VIOLATED
    if old is Compliance.NON_COMPLIANT and new is Compliance.COMPLIANT:
        return TransitionKind.RESOLVED
    if old is Compliance.NON_COMPLIANT and new is Compliance.NOT_APPLICABLE:
        return TransitionKind.RETIRED
    if new is Compliance.INSUFFICIENT_DATA:
        return TransitionKind.DATA_GAP
    return TransitionKind.BENIGN


_TABLE: dict[tuple[Compliance, Compliance], Transition] = {
    (old, new): Transition(old, new, transition_kind(old, new))
    for old in Compliance
    for new in Compliance
    if new is not Compliance.NONE
}


def transition(old: Compliance, new: Compliance) -> Transition:
    """The transition for one from→to pair (precomputed: the hot path only does a dict lookup)."""
    return _TABLE[(old, new)]
