"""One match block compiled into a predicate: globs, lists, states, kinds, and the unchanged rule."""

from __future__ import annotations

import re
from itertools import product

import pytest

from notifier.routing.matchers import (
    DEFAULT_KINDS,
    compile_field,
    compile_match,
    compile_pair_mask,
    glob_problem,
    pair_bit,
)
from notifier.transition import Compliance, TransitionKind, transition
from tests.unit.test_route_tree import change

ALL_PAIRS = [(old, new) for old, new in product(Compliance, Compliance) if new is not Compliance.NONE]


def allowed_pairs(match: dict[str, object]) -> set[tuple[Compliance, Compliance]]:
    mask = compile_pair_mask(match)
    return {(old, new) for old, new in ALL_PAIRS if mask & pair_bit(transition(old, new))}


# --- string fields ---------------------------------------------------------------------------------


def test_exact_strings_are_a_set_lookup_not_a_regex() -> None:
    test = compile_field(["AWS::IAM::User", "AWS::IAM::Role"])
    assert isinstance(getattr(test, "__self__", None), frozenset)
    assert test("AWS::IAM::User") and test("AWS::IAM::Role")
    assert not test("AWS::IAM::Group") and not test("aws::iam::user")


def test_all_globs_of_a_field_share_one_compiled_regex() -> None:
    test = compile_field(["standardized-*", "iam-?-check", "s3-[!x]*"])
    pattern = getattr(test, "__self__", None)
    assert isinstance(pattern, re.Pattern)
    assert pattern.pattern.count("(?:") == 3  # one alternative per glob, one regex in all
    assert test("standardized-iam-policies")
    assert test("iam-1-check") and not test("iam-12-check")
    assert test("s3-bucket-logging") and not test("s3-xray")


def test_a_mix_of_exact_strings_and_globs_matches_either() -> None:
    test = compile_field(["exact-rule", "glob-*"])
    assert test("exact-rule") and test("glob-anything")
    assert not test("exact-rule-2") and not test("other")


@pytest.mark.parametrize(
    ("glob", "value", "expected"),
    [
        ("standardized-*", "standardized-iam-policies", True),
        ("standardized-*", "standardized-", True),
        ("standardized-*", "Standardized-iam", False),  # case matters: AWS names are case-sensitive
        ("standardized-*", "xstandardized-iam", False),  # anchored at the start
        ("*-policies", "standardized-iam-policies-v2", False),  # ... and at the end
        ("arn:aws:iam::*:user/*", "arn:aws:iam::123456789012:user/path/alice", True),  # '*' crosses '/' and ':'
        ("a.b", "aXb", False),  # regex metacharacters are literal
        ("a+(b)", "a+(b)", True),
        ("eu-*-[12]", "eu-west-1", True),
        ("eu-*-[12]", "eu-west-3", False),
        ("user-?", "user-\n", True),
    ],
)
def test_glob_semantics(glob: str, value: str, expected: bool) -> None:
    assert bool(compile_field(glob)(value)) is expected


def test_a_single_string_is_a_list_of_one() -> None:
    assert compile_field("AWS::IAM::User")("AWS::IAM::User")
    assert not compile_field("AWS::IAM::User")("AWS::IAM::UserX")


def test_an_empty_list_is_refused_rather_than_matching_nothing() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        compile_field([])


@pytest.mark.parametrize("glob", ["standardized-[iam", "a[", "[!", "x[]", "[!]"])
def test_an_unclosed_bracket_is_a_problem_not_a_literal(glob: str) -> None:
    problem = glob_problem(glob)
    assert problem is not None and "never closed" in problem
    with pytest.raises(ValueError, match="never closed"):
        compile_field(glob)


@pytest.mark.parametrize("glob", ["standardized-*", "[]]x", "[!]]x", "a]b", "[a-z]*", "plain"])
def test_well_formed_globs_have_no_problem(glob: str) -> None:
    assert glob_problem(glob) is None


# --- states and kinds --------------------------------------------------------------------------------


def test_without_transition_key_every_kind_but_unchanged_matches() -> None:
    pairs = allowed_pairs({})
    assert pairs == {(old, new) for old, new in ALL_PAIRS if old != new}
    assert frozenset(TransitionKind) - {TransitionKind.UNCHANGED} == DEFAULT_KINDS


def test_unchanged_is_received_only_when_listed() -> None:
    assert allowed_pairs({"transition": "unchanged"}) == {(s, s) for s in Compliance if s is not Compliance.NONE}
    assert (Compliance.COMPLIANT, Compliance.COMPLIANT) in allowed_pairs({"transition": ["unchanged", "resolved"]})
    assert (Compliance.COMPLIANT, Compliance.COMPLIANT) not in allowed_pairs({"to": "COMPLIANT"})


def test_from_and_to_without_transition_still_exclude_unchanged() -> None:
    assert compile_pair_mask({"from": "COMPLIANT", "to": "COMPLIANT"}) == 0
    assert compile_pair_mask({"from": "COMPLIANT", "to": "COMPLIANT", "transition": "unchanged"}) != 0


def test_from_none_is_a_first_evaluation() -> None:
    first_evaluations = {(Compliance.NONE, new) for new in Compliance if new is not Compliance.NONE}
    assert allowed_pairs({"from": "NONE"}) == first_evaluations
    assert allowed_pairs({"from": "NONE", "to": "NON_COMPLIANT"}) == {(Compliance.NONE, Compliance.NON_COMPLIANT)}
    assert allowed_pairs({"transition": "first_violation"}) == {(Compliance.NONE, Compliance.NON_COMPLIANT)}


def test_to_none_is_refused() -> None:
    with pytest.raises(ValueError, match="`to` cannot be NONE"):
        compile_pair_mask({"to": ["COMPLIANT", "NONE"]})


def test_from_to_and_transition_all_hold_together() -> None:
    pairs = allowed_pairs({"from": ["COMPLIANT", "NOT_APPLICABLE"], "transition": ["violated", "data_gap"]})
    assert pairs == {
        (Compliance.COMPLIANT, Compliance.NON_COMPLIANT),
        (Compliance.NOT_APPLICABLE, Compliance.NON_COMPLIANT),
        (Compliance.COMPLIANT, Compliance.INSUFFICIENT_DATA),
        (Compliance.NOT_APPLICABLE, Compliance.INSUFFICIENT_DATA),
    }


def test_every_pair_has_its_own_bit() -> None:
    bits = [pair_bit(transition(old, new)) for old, new in ALL_PAIRS]
    assert len(set(bits)) == len(ALL_PAIRS) == 20
    assert all(bit and bit & (bit - 1) == 0 for bit in bits)  # one bit each


# --- whole match blocks ------------------------------------------------------------------------------


def test_every_key_must_hold() -> None:
    matcher = compile_match(
        {"rule": "standardized-*", "resource_type": "AWS::IAM::User", "account": "123456789012", "to": "NON_COMPLIANT"}
    )
    notification, change_ = change(rule="standardized-iam-policies", old="COMPLIANT", new="NON_COMPLIANT")
    assert matcher.matches(notification, change_)
    assert not matcher.matches(*change(rule="standardized-iam-policies", resource_type="AWS::IAM::Role",
                                       old="COMPLIANT", new="NON_COMPLIANT"))
    assert not matcher.matches(*change(rule="standardized-iam-policies", account="210987654321",
                                       old="COMPLIANT", new="NON_COMPLIANT"))
    assert not matcher.matches(*change(rule="standardized-iam-policies", old="NON_COMPLIANT", new="COMPLIANT"))


def test_region_and_resource_id_are_matched_too() -> None:
    matcher = compile_match({"region": ["eu-*", "us-east-1"], "resource_id": "AIDA*"})
    assert matcher.matches(*change(region="eu-west-1", resource_id="AIDAEXAMPLE"))
    assert matcher.matches(*change(region="us-east-1", resource_id="AIDAEXAMPLE"))
    assert not matcher.matches(*change(region="us-east-2", resource_id="AIDAEXAMPLE"))
    assert not matcher.matches(*change(region="eu-west-1", resource_id="AROAEXAMPLE"))


@pytest.mark.parametrize("match", [None, {}])
def test_no_match_block_matches_everything_but_unchanged(match: dict[str, object] | None) -> None:
    matcher = compile_match(match)
    assert matcher.matches(*change(old="NONE", new="COMPLIANT"))
    assert not matcher.matches(*change(old="COMPLIANT", new="COMPLIANT"))


def test_unknown_match_key_is_refused() -> None:
    with pytest.raises(ValueError, match="resource"):
        compile_match({"resource": "x"})
