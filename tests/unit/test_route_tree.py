"""The compiled route tree, against Alertmanager's semantics and against a naive reference model."""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.routing.matchers import DEFAULT_KINDS
from notifier.routing.tree import RouteHit, RouteTree
from notifier.transition import Transition, transition
from tests.conftest import compliance_message

_BODY_KEYS = {
    "account": "awsAccountId", "region": "awsRegion", "rule": "configRuleName",
    "resource_type": "resourceType", "resource_id": "resourceId",
}
_QUALIFIER_KEYS = ("configRuleName", "resourceType", "resourceId")


def change(
    old: str = "COMPLIANT", new: str = "NON_COMPLIANT", **fields: str
) -> tuple[ComplianceNotification, Transition]:
    """A real AWS-documented compliance message with fields replaced, parsed, and its transition."""
    body = compliance_message("ComplianceChangeNotification__01_")
    defaults = {"rule": "standardized-iam-policies", "resource_type": "AWS::IAM::User", "resource_id": "AIDAEXAMPLE"}
    for key, value in {**defaults, **fields}.items():
        body[_BODY_KEYS[key]] = value
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        qualifier = body[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]
        qualifier.update({key: body[key] for key in _QUALIFIER_KEYS})
    body["newEvaluationResult"]["complianceType"] = new
    if old == "NONE":
        body["oldEvaluationResult"] = None
    else:
        body["oldEvaluationResult"]["complianceType"] = old
    notification = parse(InboundMessage("config", "$", body=body))
    assert isinstance(notification, ComplianceNotification), notification
    return notification, transition(notification.old_compliance, notification.new.compliance)


def route(name: str, destinations: list[str] | None = None, **rest: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": name, **rest}
    if destinations is not None:
        raw["destinations"] = destinations
    return raw


def routed(tree: RouteTree, **fields: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(hit.route, hit.destinations) for hit in tree.match(*change(**fields))]


IAM = {"rule": "standardized-iam-*"}


def test_first_match_wins() -> None:
    tree = RouteTree.compile([route("a", ["x"], match=IAM), route("b", ["y"], match=IAM), route("c", ["z"])])
    assert routed(tree) == [("a", ("x",))]


def test_continue_lets_later_siblings_match_too() -> None:
    tree = RouteTree.compile([
        route("a", ["x"], match=IAM, **{"continue": True}),
        route("not-iam", ["w"], match={"rule": "s3-*"}),
        route("b", ["y"], match=IAM),
        route("c", ["z"]),  # after b, which does not continue
    ])
    assert routed(tree) == [("a", ("x",)), ("b", ("y",))]


def test_continue_false_is_the_default_and_explicit_false_stops() -> None:
    tree = RouteTree.compile([route("a", ["x"], **{"continue": False}), route("b", ["y"])])
    assert routed(tree) == [("a", ("x",))]


def test_unrouted_is_an_empty_tuple() -> None:
    tree = RouteTree.compile([route("s3", ["x"], match={"rule": "s3-*"})])
    assert tree.match(*change()) == ()


def test_a_matching_child_replaces_its_parent() -> None:
    tree = RouteTree.compile([
        route("parent", ["p"], match=IAM, routes=[
            route("break-glass", ["audit"], match={"resource_id": "AIDABREAKGLASS*"}),
        ]),
    ])
    assert routed(tree, resource_id="AIDABREAKGLASSALICE") == [("break-glass", ("audit",))]
    assert routed(tree, resource_id="AIDABOB") == [("parent", ("p",))]  # no child matched: the parent serves


def test_children_are_only_tried_when_the_parent_matches() -> None:
    tree = RouteTree.compile([route("parent", ["p"], match={"rule": "s3-*"}, routes=[route("child", ["c"])])])
    assert routed(tree) == []


def test_a_child_without_destinations_inherits_and_grandchildren_too() -> None:
    tree = RouteTree.compile([
        route("parent", ["p1", "p2"], match=IAM, routes=[
            route("child", match={"to": "COMPLIANT"}, routes=[
                route("grandchild", match={"region": "eu-*"}),
                route("own", ["o"], match={"region": "us-*"}),
            ]),
        ]),
    ])
    assert routed(tree, old="NON_COMPLIANT", new="COMPLIANT", region="eu-west-1") == [("grandchild", ("p1", "p2"))]
    assert routed(tree, old="NON_COMPLIANT", new="COMPLIANT", region="us-east-1") == [("own", ("o",))]
    assert routed(tree, old="NON_COMPLIANT", new="COMPLIANT", region="ap-south-1") == [("child", ("p1", "p2"))]


def test_children_follow_first_match_and_continue_among_themselves() -> None:
    tree = RouteTree.compile([
        route("parent", ["p"], routes=[
            route("c1", ["x"], match=IAM, **{"continue": True}),
            route("c2", ["y"], match={"resource_type": "AWS::IAM::*"}),
            route("c3", ["z"]),
        ]),
        route("sibling", ["s"]),
    ])
    assert routed(tree) == [("c1", ("x",)), ("c2", ("y",))]
    assert routed(tree, rule="s3-x", resource_type="AWS::S3::Bucket") == [("c3", ("z",))]


def test_a_parents_continue_applies_to_its_own_siblings_after_a_child_replaced_it() -> None:
    tree = RouteTree.compile([
        route("parent", ["p"], routes=[route("child", ["c"], match=IAM)], **{"continue": True}),
        route("sibling", ["s"], match=IAM),
    ])
    assert routed(tree) == [("child", ("c",)), ("sibling", ("s",))]


def test_a_pure_scope_with_no_matching_child_falls_through_to_its_siblings() -> None:
    tree = RouteTree.compile([
        route("iam-scope", match=IAM, routes=[route("prod", ["pager"], match={"account": "012345678901"})]),
        route("fallback", ["audit"]),
    ])
    assert routed(tree, account="012345678901") == [("prod", ("pager",))]
    assert routed(tree, account="123456789012") == [("fallback", ("audit",))]  # not swallowed by the scope


def test_lists_mean_any_of_and_globs_work_in_every_string_field() -> None:
    tree = RouteTree.compile([
        route("r", ["x"], match={
            "rule": ["exact-rule", "standardized-*"],
            "resource_type": "AWS::IAM::?ser",
            "account": ["0123456789[0-9][0-9]", "999999999999"],
            "region": ["eu-*", "us-east-1"],
            "resource_id": "AIDA*",
        }),
    ])
    assert routed(tree, account="012345678901", region="eu-west-1") == [("r", ("x",))]
    assert routed(tree, rule="exact-rule", account="999999999999", region="us-east-1") == [("r", ("x",))]
    assert routed(tree, account="112345678901", region="eu-west-1") == []
    assert routed(tree, account="012345678901", region="us-west-2") == []
    assert routed(tree, account="012345678901", region="eu-west-1", resource_id="AROAX") == []


def test_from_to_and_none() -> None:
    tree = RouteTree.compile([
        route("first-evaluation", ["new"], match={"from": "NONE"}),
        route("broken", ["bad"], match={"to": ["NON_COMPLIANT", "INSUFFICIENT_DATA"]}),
        route("rest", ["other"]),
    ])
    assert routed(tree, old="NONE", new="COMPLIANT") == [("first-evaluation", ("new",))]
    assert routed(tree, old="NONE", new="NON_COMPLIANT") == [("first-evaluation", ("new",))]
    assert routed(tree, old="COMPLIANT", new="INSUFFICIENT_DATA") == [("broken", ("bad",))]
    assert routed(tree, old="NON_COMPLIANT", new="NOT_APPLICABLE") == [("rest", ("other",))]


def test_transition_kinds() -> None:
    tree = RouteTree.compile([
        route("retired", ["r"], match={"transition": "retired"}),
        route("violations", ["v"], match={"transition": ["first_violation", "violated"]}),
    ])
    assert routed(tree, old="NON_COMPLIANT", new="NOT_APPLICABLE") == [("retired", ("r",))]
    assert routed(tree, old="NONE", new="NON_COMPLIANT") == [("violations", ("v",))]
    assert routed(tree, old="NOT_APPLICABLE", new="NON_COMPLIANT") == [("violations", ("v",))]
    assert routed(tree, old="NON_COMPLIANT", new="COMPLIANT") == []


def test_unchanged_needs_an_explicit_route() -> None:
    catch_all = RouteTree.compile([route("everything", ["x"])])
    assert routed(catch_all, old="NON_COMPLIANT", new="NON_COMPLIANT") == []
    assert routed(catch_all, old="COMPLIANT", new="NON_COMPLIANT") == [("everything", ("x",))]
    explicit = RouteTree.compile([route("repeats", ["x"], match={"transition": ["unchanged"]}), route("rest", ["y"])])
    assert routed(explicit, old="NON_COMPLIANT", new="NON_COMPLIANT") == [("repeats", ("x",))]
    assert routed(explicit, old="COMPLIANT", new="NON_COMPLIANT") == [("rest", ("y",))]


def test_unchanged_rule_holds_for_children_too() -> None:
    tree = RouteTree.compile([route("all-changes", ["x"], match={"transition": "unchanged"}, routes=[route("child")])])
    # The parent takes unchanged results; its child, which does not list `unchanged`, never does.
    assert routed(tree, old="COMPLIANT", new="COMPLIANT") == [("all-changes", ("x",))]


def test_route_names_depth_first_in_config_order() -> None:
    tree = RouteTree.compile([
        route("a", ["x"], routes=[route("a1"), route("a2", routes=[route("a2i")])]),
        route("b", ["y"]),
    ])
    assert tree.route_names == ("a", "a1", "a2", "a2i", "b")


def test_hits_are_frozen_and_compare_by_value() -> None:
    hit = RouteHit("r", ("x",))
    assert hit == RouteHit("r", ("x",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.route = "other"  # type: ignore[misc]


# --- against a naive reference: every tree, every notification ---------------------------------------


def reference(routes: list[dict[str, Any]], n: ComplianceNotification, t: Transition,
              inherited: tuple[str, ...] = ()) -> tuple[bool, list[tuple[str, tuple[str, ...]]]]:
    """Alertmanager's algorithm read straight off the raw dicts, with fnmatch and no precompilation."""
    hits: list[tuple[str, tuple[str, ...]]] = []
    matched_any = False
    for raw in routes:
        match = raw.get("match", {})
        fields_ok = all(
            any(fnmatch.fnmatchcase(getattr(n, key), g) for g in ([v] if isinstance(v, str) else v))
            for key, v in match.items() if key not in ("from", "to", "transition")
        )
        kinds = match.get("transition", [k.value for k in DEFAULT_KINDS])
        states_ok = (t.kind.value in kinds and t.old.value in match.get("from", [t.old.value])
                     and t.new.value in match.get("to", [t.new.value]))
        if not (fields_ok and states_ok):
            continue
        own = tuple(raw.get("destinations", ())) or inherited
        child_matched, child_hits = reference(raw.get("routes", []), n, t, own)
        if child_matched:
            hits.extend(child_hits)
        elif own:
            hits.append((raw["name"], own))
        else:
            continue
        matched_any = True
        if not raw.get("continue", False):
            break
    return matched_any, hits


_names = iter(range(10**9))
_match = st.fixed_dictionaries({}, optional={
    "rule": st.sampled_from(["standardized-*", "s3-*", ["standardized-iam-policies", "x"], "*"]),
    "region": st.sampled_from(["eu-*", "us-east-1", ["us-*", "eu-west-1"]]),
    "from": st.lists(st.sampled_from(["NONE", "COMPLIANT", "NON_COMPLIANT"]), min_size=1, max_size=2),
    "to": st.lists(st.sampled_from(["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"]), min_size=1, max_size=2),
    "transition": st.lists(st.sampled_from(["first_violation", "violated", "resolved", "unchanged", "benign"]),
                           min_size=1, max_size=3),
})
_routes = st.recursive(
    st.builds(lambda m, d, c: {"match": m, "destinations": d, "continue": c},
              _match, st.sampled_from([[], ["x"], ["y", "z"]]), st.booleans()),
    lambda children: st.builds(lambda m, d, c, kids: {"match": m, "destinations": d, "continue": c, "routes": kids},
                               _match, st.sampled_from([[], ["x"]]), st.booleans(), st.lists(children, max_size=3)),
    max_leaves=8,
)
_states = ["NONE", "COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"]


def _named(raw: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if v != [] or k != "destinations"}
    out["name"] = f"r{next(_names)}"
    if "routes" in raw:
        out["routes"] = [_named(child) for child in raw["routes"]]
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_routes, min_size=1, max_size=4),
    st.sampled_from(["standardized-iam-policies", "s3-bucket-logging"]),
    st.sampled_from(["eu-west-1", "us-east-1", "ap-south-1"]),
    st.sampled_from(_states),
    st.sampled_from(_states[1:]),
)
def test_agrees_with_the_reference_model(raw_routes: list[dict[str, Any]], rule: str, region: str,
                                          old: str, new: str) -> None:
    routes = [_named(raw) for raw in raw_routes]
    notification, change_ = change(old=old, new=new, rule=rule, region=region)
    tree = RouteTree.compile(routes)
    expected = reference(routes, notification, change_)[1]
    assert [(hit.route, hit.destinations) for hit in tree.match(notification, change_)] == expected
