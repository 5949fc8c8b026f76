"""Load a routing config (YAML or JSON): check all of it, then compile it once.

    text ──► located_yaml ──► schema_messages + semantic_checks ──► RoutingConfig(destinations, tree)
             (data + lines)   (every problem, each located)          (only when there are no errors)

Every problem is reported at once, as `routes.yml:14: routes[2].match.rule: <sentence>`, so a file
with ten mistakes needs one round trip, not ten. Problems are errors; a destination that no route
uses is only a warning (legitimate while a config is being built up, or kept for a quick switch):
warnings are in `check_config(...).warnings` and in `RoutingConfig.warnings`, never in
`ConfigError.problems` or `find_problems`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..destinations.base import DestinationSpec
from ..errors import ConfigError, ConfigProblem
from .located_yaml import DocPath, LocatedDocument, UnreadableDocument, load_located
from .schema_messages import schema_problems
from .semantic_checks import format_path, semantic_findings, templates_dir_of
from .silences import Silence, compile_silences
from .tree import RouteTree


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    destinations: Mapping[str, DestinationSpec]  # read-only, in config order
    tree: RouteTree
    templates_dir: Path | None  # already resolved against the config file's folder
    source: str  # where the config came from: a path, s3://..., ssm:...
    warnings: tuple[ConfigProblem, ...] = ()  # e.g. destinations no route uses
    invalid_messages: str | None = None  # a file destination that keeps invalid messages (a dead letter)
    silences: tuple[Silence, ...] = ()
    dry_run_outbox: str | None = None  # a file destination that receives every dry-run record (notifier/dry_run.py)


@dataclass(frozen=True, slots=True)
class ConfigCheck:
    """The outcome of checking a config: errors (`problems`) and `warnings`, each sorted by line."""

    problems: tuple[ConfigProblem, ...]
    warnings: tuple[ConfigProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def load_config(path: str | os.PathLike[str]) -> RoutingConfig:
    """Read and compile the config file at `path`; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(str(path), "is not UTF-8 text")]) from None
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), f"cannot be read: {exc.strerror or exc}")]) from None
    return parse_config(text, str(path), path.parent)


def parse_config(text: str, source: str, base_dir: Path) -> RoutingConfig:
    """Check and compile config text; `base_dir` anchors `templates_dir`. Raises ConfigError on any error."""
    document, check = _check(text, source, base_dir)
    if document is None or check.problems:
        raise ConfigError(list(check.problems))
    data: dict[str, Any] = document.data
    destinations = {
        name: DestinationSpec(name, spec["type"], MappingProxyType(_options(spec, base_dir)))
        for name, spec in data["destinations"].items()
    }
    return RoutingConfig(
        destinations=MappingProxyType(destinations),
        tree=RouteTree.compile(data["routes"]),
        templates_dir=templates_dir_of(data.get("templates_dir"), base_dir),
        source=source,
        warnings=check.warnings,
        invalid_messages=data.get("invalid_messages"),
        silences=compile_silences(data.get("silences")),
        dry_run_outbox=data.get("dry_run_outbox"),
    )


def _options(spec: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Every key but `type`; a relative file `path` is anchored, like templates_dir, at the config's folder."""
    options = {key: value for key, value in spec.items() if key != "type"}
    if spec["type"] == "file" and not Path(options["path"]).expanduser().is_absolute():
        options["path"] = str(base_dir / options["path"])
    return options


def check_config(text: str, source: str, base_dir: Path) -> ConfigCheck:
    """Every problem and warning in config text, without raising."""
    return _check(text, source, base_dir)[1]


def find_problems(text: str, source: str, base_dir: Path) -> list[ConfigProblem]:
    """Every problem (errors only; see `check_config` for warnings too), sorted by line; [] means valid."""
    return list(check_config(text, source, base_dir).problems)


def _check(text: str, source: str, base_dir: Path) -> tuple[LocatedDocument | None, ConfigCheck]:
    try:
        document = load_located(text)
    except UnreadableDocument as exc:
        return None, ConfigCheck((ConfigProblem(f"{source}:{exc.line}", exc.message),), ())
    errors = list(schema_problems(document))
    findings = semantic_findings(document, base_dir)
    errors.extend(findings.errors)
    return document, ConfigCheck(_located(errors, document, source), _located(findings.warnings, document, source))


def _located(found: list[tuple[DocPath, str]], document: LocatedDocument, source: str) -> tuple[ConfigProblem, ...]:
    """Sorted by line, then path; one check may find what another did, so exact repeats are dropped."""
    keyed = {(document.line_of(path), format_path(path), message) for path, message in found}
    return tuple(
        ConfigProblem(f"{source}:{line}: {where}" if where else f"{source}:{line}", message)
        for line, where, message in sorted(keyed)
    )
