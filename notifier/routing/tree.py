"""The compiled route tree: which routes, and so which destinations, a notification goes to.

Semantics (Alertmanager's, DESIGN.md "Routing config"):
  * sibling routes are tried in order; the first that matches wins, unless it says `continue: true`,
    in which case the next siblings are tried too;
  * when a route matches, its children are tried the same way; a matching child replaces its parent
    (the parent's destinations serve only when no child matches);
  * a child without `destinations` inherits its parent's (resolved here, once, at compile time).

One rule Alertmanager does not need (its root route always has a receiver) and this tree does: a
route with no destinations of its own and none inherited is a pure scope. It only routes through its
children; when none of them matches, it counts as not matching at all, and the search goes on with
its siblings. A notification is never silently swallowed by a route with nowhere to deliver to: it
goes to a later route or ends up `unrouted` (an empty result), which `explain` shows.

Which notifications a single route matches is matchers.py's business; note its one rule of its own:
a route without `transition` in its match gets every transition kind except `unchanged`.

`match` returns one `RouteHit` per route whose destinations were used, in tree order. Two hits may
name the same destination (two routes with `continue: true`); the delivery stage sends once per
destination and records every route that chose it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..digests.policy import DigestPolicy
from ..notification import ComplianceNotification
from ..transition import Transition
from .matchers import Matcher, compile_match, pair_bit


@dataclass(frozen=True, slots=True)
class RouteHit:
    route: str
    destinations: tuple[str, ...]
    digest: DigestPolicy | None = None  # group_by / group_window / baseline (digests/policy.py)


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    name: str
    matcher: Matcher
    destinations: tuple[str, ...]  # effective: own, else inherited; empty for a pure scope
    continue_matching: bool
    children: tuple[CompiledRoute, ...]
    hit: RouteHit | None  # built once; None for a pure scope (nothing to deliver to by itself)


def compile_route(raw: Mapping[str, Any], inherited: tuple[str, ...] = ()) -> CompiledRoute:
    """Compile one (already validated) route and its children."""
    own = raw.get("destinations")
    destinations = tuple(own) if own else inherited
    name = str(raw["name"])
    return CompiledRoute(
        name=name,
        matcher=compile_match(raw.get("match")),
        destinations=destinations,
        continue_matching=bool(raw.get("continue", False)),
        children=tuple(compile_route(child, destinations) for child in raw.get("routes") or ()),
        hit=RouteHit(name, destinations, DigestPolicy.of_route(raw)) if destinations else None,
    )


def _route_into(
    routes: tuple[CompiledRoute, ...], notification: ComplianceNotification, bit: int, hits: list[RouteHit]
) -> bool:
    """Try `routes` as siblings, appending hits; True when at least one of them matched."""
    matched = False
    for route in routes:
        # Matcher.matches_bit, inlined: this loop runs for every route of every notification.
        matcher = route.matcher
        if not matcher.pair_mask & bit:
            continue
        for read, test in matcher.field_tests:
            if not test(read(notification)):
                break
        else:  # the route matches: a matching child replaces it, else its own hit serves
            if not (route.children and _route_into(route.children, notification, bit, hits)):
                if route.hit is None:
                    continue  # a pure scope none of whose children matched: as if it did not match
                hits.append(route.hit)
            if not route.continue_matching:
                return True
            matched = True
    return matched


class RouteTree:
    """The ordered top-level routes, compiled. Built once per process; `match` is the hot path."""

    __slots__ = ("_names", "_routes")

    def __init__(self, routes: Sequence[CompiledRoute]):
        self._routes = tuple(routes)
        self._names = tuple(route.name for route in _walk(self._routes))

    @classmethod
    def compile(cls, raw_routes: Sequence[Mapping[str, Any]]) -> RouteTree:
        """Compile the config's `routes` list (validated by config.py, which locates every problem)."""
        return cls([compile_route(raw) for raw in raw_routes])

    @property
    def route_names(self) -> tuple[str, ...]:
        """Every route's name, depth first, in config order."""
        return self._names

    @property
    def routes(self) -> tuple[CompiledRoute, ...]:
        return self._routes

    def match(self, notification: ComplianceNotification, transition: Transition) -> tuple[RouteHit, ...]:
        """The routes whose destinations serve this notification; an empty tuple means unrouted."""
        hits: list[RouteHit] = []
        _route_into(self._routes, notification, pair_bit(transition), hits)
        return tuple(hits)

    def __repr__(self) -> str:
        return f"RouteTree({len(self._names)} routes: {', '.join(self._names)})"


def _walk(routes: tuple[CompiledRoute, ...]) -> Iterator[CompiledRoute]:
    for route in routes:
        yield route
        yield from _walk(route.children)
