"""Read a config document (YAML, or JSON, which YAML includes) and remember where every value was written.

Config problems must say `routes.yml:14: routes[2].match.rule`, so the document is composed into
PyYAML nodes first (they carry marks), an index from document path to line is built from them, and
only then is plain data constructed. The index also keeps each scalar as written, so a message can
quote `012345678901` rather than the number YAML turned it into.

Also caught here, because only the nodes still show them: duplicate keys (YAML silently keeps the
last one: a second destination with the same name would replace the first) and recursive aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

DocPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# A document expanding to more values than this is an alias bomb, not a routing config.
_MAX_VALUES = 200_000


class UnreadableDocument(Exception):
    """The text is not one YAML document; `line` is 1-based. The message never quotes the text itself."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    path: DocPath  # of the repeated key
    line: int
    first_line: int


@dataclass(frozen=True, slots=True)
class LocatedDocument:
    data: Any
    lines: dict[DocPath, int]  # 1-based line of each value (of its key, inside a mapping)
    scalars: dict[DocPath, str]  # each scalar exactly as written
    duplicate_keys: tuple[DuplicateKey, ...]

    def line_of(self, path: DocPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one (a key that is missing, say)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


def load_located(text: str) -> LocatedDocument:
    """Parse `text`; raises UnreadableDocument when it is empty or not a single YAML document."""
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a control character or a stray byte
        line = text.count("\n", 0, exc.position) + 1
        raise UnreadableDocument(line, f"not a text file YAML can read (character {exc.character!r})") from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise UnreadableDocument(1, "the file is empty: it needs `destinations` and `routes`")
        duplicates: list[DuplicateKey] = []
        _find_duplicates(node, (), duplicates, set())  # before construction flattens `<<` merges
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # exc.problem only: str(exc) quotes the offending line, which may hold a secret.
        raise UnreadableDocument(mark.line + 1 if mark else 1, f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise UnreadableDocument(1, f"not valid YAML: {type(exc).__name__}") from None
    finally:
        loader.dispose()
    lines: dict[DocPath, int] = {}
    scalars: dict[DocPath, str] = {}
    _index(loader, node, (), node.start_mark.line + 1, lines, scalars, set())
    return LocatedDocument(data, lines, scalars, tuple(duplicates))


def _key_of(loader: yaml.SafeLoader, key: Node) -> str | int:
    """The key as the constructed data has it (`1:` is the int 1), as a path component."""
    if isinstance(key, ScalarNode) and key.tag == "tag:yaml.org,2002:str":
        return str(key.value)
    value = loader.construct_object(key, deep=True) if isinstance(key, ScalarNode) else None
    return value if isinstance(value, str | int) else str(getattr(key, "value", "?"))


def _index(
    loader: yaml.SafeLoader,
    node: Node,
    path: DocPath,
    line: int,
    lines: dict[DocPath, int],
    scalars: dict[DocPath, str],
    active: set[int],
) -> None:
    if len(lines) > _MAX_VALUES:
        raise UnreadableDocument(line, f"the document expands to more than {_MAX_VALUES} values (alias bomb?)")
    lines[path] = line
    if isinstance(node, ScalarNode):
        scalars[path] = str(node.value)
        return
    if id(node) in active:
        raise UnreadableDocument(line, "a YAML alias refers to a value that contains it (a recursive document)")
    active.add(id(node))
    if isinstance(node, SequenceNode):
        for position, item in enumerate(node.value):
            _index(loader, item, (*path, position), item.start_mark.line + 1, lines, scalars, active)
    elif isinstance(node, MappingNode):
        # Already flattened: merged keys come first and carry their anchor's lines. The data keeps the
        # last of equal keys, so walk backwards and index only the first one met.
        seen: set[str | int] = set()
        for key, value in reversed(node.value):
            name = _key_of(loader, key)
            if name not in seen:
                seen.add(name)
                _index(loader, value, (*path, name), key.start_mark.line + 1, lines, scalars, active)
    active.discard(id(node))


def _find_duplicates(node: Node, path: DocPath, found: list[DuplicateKey], active: set[int]) -> None:
    if isinstance(node, ScalarNode) or id(node) in active:
        return
    active.add(id(node))
    if isinstance(node, SequenceNode):
        for position, item in enumerate(node.value):
            _find_duplicates(item, (*path, position), found, active)
    elif isinstance(node, MappingNode):
        first_seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            line = key.start_mark.line + 1
            identity = (key.tag, str(key.value))
            if identity in first_seen:
                found.append(DuplicateKey((*path, str(key.value)), line, first_seen[identity]))
            else:
                first_seen[identity] = line
            _find_duplicates(value, (*path, str(key.value)), found, active)
    active.discard(id(node))
