from __future__ import annotations

import pytest

from notifier.transition import Compliance, TransitionKind, transition

C, K = Compliance, TransitionKind

# All 20 from→to pairs (5 possible "from" states including NONE × 4 AWS "to" states), spelled out
# by hand from DESIGN.md's table rather than derived from the code under test.
EXPECTED = {
    (C.NONE, C.COMPLIANT): K.BENIGN,
    (C.NONE, C.NON_COMPLIANT): K.FIRST_VIOLATION,
    (C.NONE, C.NOT_APPLICABLE): K.BENIGN,
    (C.NONE, C.INSUFFICIENT_DATA): K.DATA_GAP,
    (C.COMPLIANT, C.COMPLIANT): K.UNCHANGED,
    (C.COMPLIANT, C.NON_COMPLIANT): K.VIOLATED,
    (C.COMPLIANT, C.NOT_APPLICABLE): K.BENIGN,
    (C.COMPLIANT, C.INSUFFICIENT_DATA): K.DATA_GAP,
    (C.NON_COMPLIANT, C.COMPLIANT): K.RESOLVED,
    (C.NON_COMPLIANT, C.NON_COMPLIANT): K.UNCHANGED,
    (C.NON_COMPLIANT, C.NOT_APPLICABLE): K.RETIRED,
    (C.NON_COMPLIANT, C.INSUFFICIENT_DATA): K.DATA_GAP,
    (C.NOT_APPLICABLE, C.COMPLIANT): K.BENIGN,
    (C.NOT_APPLICABLE, C.NON_COMPLIANT): K.VIOLATED,
    (C.NOT_APPLICABLE, C.NOT_APPLICABLE): K.UNCHANGED,
    (C.NOT_APPLICABLE, C.INSUFFICIENT_DATA): K.DATA_GAP,
    (C.INSUFFICIENT_DATA, C.COMPLIANT): K.BENIGN,
    (C.INSUFFICIENT_DATA, C.NON_COMPLIANT): K.VIOLATED,
    (C.INSUFFICIENT_DATA, C.NOT_APPLICABLE): K.BENIGN,
    (C.INSUFFICIENT_DATA, C.INSUFFICIENT_DATA): K.UNCHANGED,
}


def test_the_table_covers_all_twenty_pairs() -> None:
    assert len(EXPECTED) == 20


@pytest.mark.parametrize(("pair", "kind"), EXPECTED.items(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_transition_kind(pair: tuple[Compliance, Compliance], kind: TransitionKind) -> None:
    result = transition(*pair)
    assert (result.old, result.new, result.kind) == (*pair, kind)


def test_none_is_never_a_target_state() -> None:
    with pytest.raises(KeyError):
        transition(C.COMPLIANT, C.NONE)


def test_every_kind_has_words() -> None:
    assert all(transition(old, new).in_words for old, new in EXPECTED)
