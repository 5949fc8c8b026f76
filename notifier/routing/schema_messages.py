"""Every JSON Schema failure of a routing config, as a located sentence a person can act on.

jsonschema's own messages dump the failing value and sometimes the whole sub-schema. Here each
error becomes (document path, one short sentence); a value is quoted only when it is short and
never when it sits under a secret-bearing key: a literal secret in the config must not be copied
into logs and terminals by the very check that rejects it.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from ..resources import load_schema_file
from .located_yaml import DocPath, LocatedDocument

SCHEMA_FILE = "routing-config.schema.json"

# Keys whose values are (or may carry) secrets: never quoted back.
SECRET_KEYS = frozenset({"password", "token", "client_secret", "secrets", "webhook_url", "headers"})
SECRET_REFERENCE_HELP = (
    "must be a secret reference (env:NAME, ssm:/path or secretsmanager:name-or-arn[#json-key]), "
    "never a literal secret; the value is not repeated here"
)

_TYPE_WORDS = {
    "string": "a string", "array": "a list", "object": "a mapping", "boolean": "true or false",
    "number": "a number", "integer": "a whole number", "null": "empty",
}
_MAX_SHOWN = 60


def load_schema() -> dict[str, Any]:
    return load_schema_file(SCHEMA_FILE)


@functools.cache
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft7Validator(load_schema())


def schema_problems(document: LocatedDocument) -> Iterator[tuple[DocPath, str]]:
    """(path, message) for every schema error; a path is where the problem is, a key's own path if it is a key."""
    for error in _validator().iter_errors(document.data):
        yield from _explain(error, tuple(error.absolute_path), document)


def _explain(error: Any, path: DocPath, document: LocatedDocument) -> Iterator[tuple[DocPath, str]]:
    validator, expected, instance = error.validator, error.validator_value, error.instance
    secret = not SECRET_KEYS.isdisjoint(p for p in path if isinstance(p, str))
    if "propertyNames" in error.relative_schema_path:  # jsonschema reports a bad key at its mapping
        yield (*path, str(instance)), f"{str(instance)!r} is not a valid name: use {error.schema['description']}"
    elif validator == "additionalProperties":
        yield from _unknown_keys(error, path)
    elif validator == "required":
        key = _missing_key(error.message, expected, instance)
        yield path, f"is missing the required key {key!r}{_REQUIRED_HINTS.get(key, '')}"
    elif validator == "type":
        yield path, _wrong_type(expected, instance, path, document, secret)
    elif validator in ("enum", "const"):
        allowed = expected if validator == "enum" else [expected]
        yield path, _not_allowed(instance, allowed, path, secret)
    elif validator == "pattern":
        if secret:
            yield path, SECRET_REFERENCE_HELP
        else:
            yield path, f"is {_shown(instance)}, which is not {error.schema.get('description', 'in the expected form')}"
    elif validator == "not":
        yield path, str(error.schema.get("description", "is not allowed here"))
    elif validator == "uniqueItems" and isinstance(instance, list):
        repeated = next((item for position, item in enumerate(instance) if item in instance[:position]), None)
        yield path, f"lists {_shown(repeated)} more than once" if not secret else "lists the same item more than once"
    else:
        yield path, _bounds(validator, expected)


_REQUIRED_HINTS = {
    "host": " (a destination sending via smtp needs the SMTP server's host name)",
    "destinations": " (a mapping of named destinations)",
    "routes": " (an ordered list of routes)",
    "name": " (route names are unique across the whole tree)",
}


def _missing_key(message: str, expected: list[str], instance: Any) -> str:
    """jsonschema yields one error per missing key and names it only in its message."""
    missing = [key for key in expected if isinstance(instance, dict) and key not in instance]
    for key in missing:
        if message.startswith(repr(key)):
            return key
    return missing[0] if missing else str(expected[0])


def _unknown_keys(error: Any, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    allowed = sorted(error.schema.get("properties", {}))
    context = _context(path, error.instance)
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        yield (*path, key), f"{context} has no key {str(key)!r}{hint}; its keys are: {', '.join(allowed)}"


def _context(path: DocPath, instance: Any) -> str:
    """What kind of mapping `path` is, in words."""
    if not path:
        return "the config"
    if len(path) == 2 and path[0] == "destinations":
        kind = instance.get("type") if isinstance(instance, dict) else None
        return f"a destination of type {kind}" if isinstance(kind, str) else "a destination"
    if path[-1] == "match":
        return "a match block"
    if path[0] == "silences" and len(path) == 2:
        return "a silence"
    if path[0] == "routes" and isinstance(path[-1], int):
        return "a route"
    return "this mapping"


def _wrong_type(expected: Any, instance: Any, path: DocPath, document: LocatedDocument, secret: bool) -> str:
    kinds: list[str] = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_TYPE_WORDS.get(kind, kind) for kind in kinds)
    if secret:
        return f"must be {wanted}, not {_kind(instance)} (the value is not repeated here: it may be a secret)"
    written = document.scalars.get(path, "")
    if "string" in kinds and isinstance(instance, int | float) and not isinstance(instance, bool):
        if "account" in path[-2:]:
            return (
                f"YAML read {written or instance} as a number, which would lose leading zeros: "
                f'quote it, as in "{written or instance}"'
            )
        return f"YAML read {written or instance} as a number: quote it if it is text"
    if "string" in kinds and isinstance(instance, date):
        return f"YAML read {written or instance} as a date: quote it"
    if "string" in kinds and isinstance(instance, bool):
        return f"YAML read {written or instance} as true/false: quote it if it is text"
    if path == ():
        return f"the config must be a mapping with `destinations` and `routes`, not {_kind(instance)}"
    return f"must be {wanted}, not {_kind(instance)}"


def _not_allowed(instance: Any, allowed: list[Any], path: DocPath, secret: bool) -> str:
    if instance == "NONE" and "to" in path[-2:]:
        return "cannot be NONE: NONE only stands for the missing old result of a first evaluation (use it in `from`)"
    shown = "this value" if secret else _shown(instance)
    return f"is {shown}; it must be one of: {', '.join(map(str, allowed))}"


def _bounds(validator: str, expected: Any) -> str:
    if validator in ("minItems", "minProperties"):
        return "must not be empty"
    if validator == "minLength":
        return "must not be an empty string"
    if validator == "exclusiveMinimum":
        return f"must be greater than {expected}"
    if validator == "minimum":
        return f"must be at least {expected}"
    if validator == "maximum":
        return f"must be at most {expected}"
    return f"is not valid ({validator})"


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return "a string"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"
