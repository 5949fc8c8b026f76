"""The checks a JSON Schema cannot express, run on the whole document even when the schema failed.

Every check here tolerates a malformed document (a route that is not a mapping, a list where a
string belongs): the schema has already reported those, and skipping them keeps one mistake from
hiding the others. Each finding is (document path, sentence); errors and warnings are kept apart.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .located_yaml import DocPath, LocatedDocument
from .matchers import STRING_FIELDS, compile_pair_mask, glob_problem, has_glob

AVAILABLE_TYPES = ("email", "file", "jira", "servicenow", "webhook", "slack", "lambda")
NOT_YET_TYPES: frozenset[str] = frozenset()
EMAIL_TEMPLATE_TYPES = ("email", "file")  # the types whose template sets are email sets
NOT_YET_ROUTE_KEYS: tuple[str, ...] = ()  # group_by, group_window, baseline: available (digests/policy.py)
DEFAULT_TEMPLATE_SET = "default"
_SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # as in the schema and in render.py

Finding = tuple[DocPath, str]


@dataclass(slots=True)
class Findings:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)


def semantic_findings(document: LocatedDocument, base_dir: Path) -> Findings:
    findings = Findings()
    data = document.data if isinstance(document.data, dict) else {}
    for duplicate in document.duplicate_keys:
        findings.errors.append((duplicate.path, (
            f"the key {duplicate.path[-1]!r} appears twice in this mapping (first on line {duplicate.first_line}); "
            "YAML would silently keep only the last one"
        )))
    destinations = data.get("destinations")
    destinations = destinations if isinstance(destinations, dict) else {}
    _check_destination_types(destinations, findings)
    _check_silences(data.get("silences"), findings)
    used = _RouteWalk(destinations, findings, document).run(data.get("routes"))
    used |= _check_invalid_messages(data.get("invalid_messages"), destinations, findings)
    used |= _check_dry_run_outbox(data.get("dry_run_outbox"), destinations, findings)
    used |= _check_breaker_notify(destinations, findings)
    for name in destinations:
        if name not in used:
            findings.warnings.append((("destinations", name), f"destination {name!r} is defined but no route uses it"))
    templates_dir = templates_dir_of(data.get("templates_dir"), base_dir)
    if templates_dir is not None and not templates_dir.is_dir():
        findings.errors.append((("templates_dir",), (
            f"{str(templates_dir)!r} is not a folder (templates_dir is relative to the config file's folder)"
        )))
    else:
        _check_templates(destinations, templates_dir, findings)
    return findings


def _check_silences(silences: Any, findings: Findings) -> None:
    """Each silence's `until` must be a date-time (an expired one is a warning: it does nothing) and its
    match block must compile (globs, states) like a route's."""
    from datetime import UTC, datetime

    from .matchers import compile_match
    from .silences import parse_until

    for index, silence in enumerate(silences if isinstance(silences, list) else []):
        if not isinstance(silence, dict):
            continue
        if "until" in silence:
            try:
                until = parse_until(silence["until"])
            except ValueError as exc:
                findings.errors.append((("silences", index, "until"), str(exc)))
            else:
                if until <= datetime.now(UTC):
                    reason = silence.get("reason", "?")
                    findings.warnings.append(((("silences", index)), f"expired on {until.isoformat()} ({reason})"))
        match = silence.get("match")
        if isinstance(match, dict):
            try:
                compile_match(match)
            except (ValueError, TypeError) as exc:
                findings.errors.append((("silences", index, "match"), str(exc)))


def _check_breaker_notify(destinations: Mapping[str, Any], findings: Findings) -> set[str]:
    """A remediation's breaker.notify names destinations that must exist (and are thereby in use)."""
    named: set[str] = set()
    for name, spec in destinations.items():
        breaker = spec.get("breaker") if isinstance(spec, dict) else None
        notify = breaker.get("notify") if isinstance(breaker, dict) else None
        for index, target in enumerate(notify if isinstance(notify, list) else []):
            if not isinstance(target, str):
                continue
            named.add(target)
            if target not in destinations:
                path = ("destinations", name, "breaker", "notify", index)
                findings.errors.append((path, f"names the destination {target!r}, which is not defined"))
    return named


def _check_invalid_messages(name: Any, destinations: Mapping[str, Any], findings: Findings) -> set[str]:
    """The dead letter for invalid messages must be a defined `file` destination (it stores the raw message)."""
    if not isinstance(name, str):
        return set()
    spec = destinations.get(name)
    if spec is None:
        findings.errors.append((("invalid_messages",), f"names the destination {name!r}, which is not defined"))
    elif isinstance(spec, dict) and spec.get("type") != "file":
        message = f"destination {name!r} must be of type file to hold invalid messages"
        findings.errors.append((("invalid_messages",), message))
    return {name}


def _check_dry_run_outbox(name: Any, destinations: Mapping[str, Any], findings: Findings) -> set[str]:
    """Dry-run records are JSON lines: the outbox must be a defined `file` destination."""
    if not isinstance(name, str):
        return set()
    spec = destinations.get(name)
    if spec is None:
        findings.errors.append((("dry_run_outbox",), f"names the destination {name!r}, which is not defined"))
    elif isinstance(spec, dict) and spec.get("type") != "file":
        message = f"destination {name!r} must be of type file to hold dry-run records (it is {spec.get('type')!r})"
        findings.errors.append((("dry_run_outbox",), message))
    return {name}


def templates_dir_of(value: Any, base_dir: Path) -> Path | None:
    """`templates_dir` is relative to the config file's folder (an absolute path stays as it is)."""
    return base_dir / value if isinstance(value, str) and value else None


def _check_destination_types(destinations: Mapping[str, Any], findings: Findings) -> None:
    for name, spec in destinations.items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind in NOT_YET_TYPES:
            findings.errors.append((("destinations", name, "type"), (
                f"destination type {kind!r} is not available in this version yet "
                f"(available: {', '.join(AVAILABLE_TYPES)})"
            )))
        elif kind == "lambda":
            _check_guard_rails(name, spec, findings)
        if isinstance(spec, dict) and "rate_limit" in spec:  # what the schema cannot say (digests/rate_limit.py)
            from ..digests.rate_limit import rate_limit_problem

            problem = rate_limit_problem(spec["rate_limit"], schema_checked=True)
            if problem is not None:
                findings.errors.append((("destinations", name, "rate_limit"), problem))


def _check_guard_rails(name: str, spec: dict[str, Any], findings: Findings) -> None:
    """What the schema cannot say about a remediation's guard rails (globs, windows, ARN vs region)."""
    from ..destinations.base import DestinationSpec
    from ..errors import NotifierError
    from ..remediation.guard import GuardSettings

    try:
        GuardSettings.from_spec(DestinationSpec(name, "lambda", {k: v for k, v in spec.items() if k != "type"}))
    except NotifierError as exc:
        findings.errors.append((("destinations", name), str(exc).removeprefix(f"destination {name!r}: ")))
    except (TypeError, ValueError, AttributeError):
        pass  # a malformed value the schema has already reported


class _RouteWalk:
    """Walks the route tree once: references, names, effective destinations, globs, impossible matches."""

    def __init__(self, destinations: Mapping[str, Any], findings: Findings, document: LocatedDocument):
        self.defined = destinations
        self.findings = findings
        self.document = document
        self.used: set[str] = set()
        self.first_use_of_name: dict[str, DocPath] = {}

    def run(self, routes: Any) -> set[str]:
        self._siblings(routes, ("routes",), inherited=False)
        return self.used

    def _siblings(self, routes: Any, path: DocPath, inherited: bool) -> None:
        if isinstance(routes, list):
            for position, route in enumerate(routes):
                if isinstance(route, dict):
                    self._route(route, (*path, position), inherited)

    def _route(self, route: dict[str, Any], path: DocPath, inherited: bool) -> None:
        error = self.findings.errors.append
        self._name(route.get("name"), path)
        own = route.get("destinations")
        if isinstance(own, list):
            for position, name in enumerate(own):
                if isinstance(name, str):
                    self._reference(name, (*path, "destinations", position))
        has_own = isinstance(own, list) and bool(own)
        children = route.get("routes")
        if not has_own and not inherited and not children:
            error((path, (
                "has no destinations, inherits none from a parent route and has no child routes: "
                "name its destinations"
            )))
        for key in NOT_YET_ROUTE_KEYS:
            if key in route:
                error(((*path, key), f"`{key}` is not available in this version yet"))
        from ..digests.policy import route_key_problems

        for key, problem in route_key_problems(route):
            error(((*path, key), problem))
        match = route.get("match")
        if isinstance(match, dict):
            self._match(match, (*path, "match"))
        self._siblings(children, (*path, "routes"), inherited or has_own)

    def _name(self, name: Any, path: DocPath) -> None:
        if not isinstance(name, str):
            return
        first = self.first_use_of_name.get(name)
        if first is None:
            self.first_use_of_name[name] = path
            return
        self.findings.errors.append(((*path, "name"), (
            f"the route name {name!r} is already used by {format_path(first)} (line {self.document.line_of(first)}); "
            "route names must be unique across the whole tree"
        )))

    def _reference(self, name: str, path: DocPath) -> None:
        self.used.add(name)
        if name in self.defined:
            return
        close = difflib.get_close_matches(name, list(self.defined), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"names the destination {name!r}, which is not defined under destinations{hint}"
        self.findings.errors.append((path, message))

    def _match(self, match: dict[str, Any], path: DocPath) -> None:
        for key in STRING_FIELDS:
            values = match.get(key)
            items = [values] if isinstance(values, str) else values if isinstance(values, list) else []
            for position, item in enumerate(items):
                if isinstance(item, str) and has_glob(item):
                    problem = glob_problem(item)
                    if problem:
                        where = (*path, key) if isinstance(values, str) else (*path, key, position)
                        self.findings.errors.append((where, problem))
        try:
            mask = compile_pair_mask(match)
        except (ValueError, TypeError):
            return  # a bad state or kind name: the schema has said so
        if mask == 0:
            self.findings.errors.append((path, (
                "can never match: no transition has these from/to states and transition kinds "
                "(without `transition`, a route gets every kind but `unchanged`)"
            )))


def _check_templates(destinations: Mapping[str, Any], templates_dir: Path | None, findings: Findings) -> None:
    """Compile each template set once, reporting its problems at the first destination that names it."""
    from ..render import Renderer  # Jinja2 is only needed when a config is checked or loaded

    first_user: dict[str, DocPath] = {}
    for name, spec in destinations.items():
        if not isinstance(spec, dict):
            continue
        if spec.get("type") not in EMAIL_TEMPLATE_TYPES:
            continue  # ticketing channels check their own template sets when they are built
        template_set = spec.get("template", DEFAULT_TEMPLATE_SET)
        # A malformed name is the schema's to report; checking it here would report it twice.
        if isinstance(template_set, str) and _SET_NAME.fullmatch(template_set) and template_set not in first_user:
            has_key = "template" in spec
            first_user[template_set] = ("destinations", name, "template") if has_key else ("destinations", name)
    renderer = Renderer(templates_dir)
    for template_set, path in first_user.items():
        for problem in renderer.check(template_set):
            findings.errors.append((path, problem))


def format_path(path: DocPath) -> str:
    """('routes', 2, 'match', 'rule') -> 'routes[2].match.rule'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
