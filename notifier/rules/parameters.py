"""A rule's parameters, read from the invoking event's `ruleParameters` (a JSON string).

Config stores parameters as a flat JSON object whose values people type into the console, so they
arrive as strings ("true", "14", "admin, breakglass"); CloudFormation may pass real JSON numbers or
booleans. Every accessor accepts both and raises `RuleParameterError` naming the parameter and saying
what it expected, which the evaluator logs and raises (see `evaluator` for why it never guesses).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


class RuleParameterError(ValueError):
    """A rule parameter is missing or malformed; `name` is the parameter (or `ruleParameters`)."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"rule parameter {name!r} {problem}")


@dataclass(frozen=True, slots=True)
class RuleParameters:
    values: Mapping[str, Any]

    @classmethod
    def from_event(cls, raw: Any) -> RuleParameters:
        """From `ruleParameters`: a JSON object as text (Config's form), a dict, or absent."""
        if raw is None or raw == "":
            return cls({})
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as error:
                raise RuleParameterError("ruleParameters", f"is not JSON ({error})") from None
        if not isinstance(raw, Mapping):
            raise RuleParameterError("ruleParameters", f"is a JSON {type(raw).__name__}, not an object")
        return cls(dict(raw))

    def _given(self, name: str) -> Any:
        """The value, or None when absent or blank (the console stores an emptied field as "")."""
        value = self.values.get(name)
        if isinstance(value, str):
            value = value.strip()
        return None if value in (None, "") else value

    def text(self, name: str, default: str | None = None) -> str:
        value = self._given(name)
        if value is None:
            if default is None:
                raise RuleParameterError(name, "is missing (it is required)")
            return default
        if not isinstance(value, str):
            raise RuleParameterError(name, f"must be text, not {json.dumps(value)}")
        return value

    def names(self, name: str) -> frozenset[str]:
        """A comma-separated list ("admin, breakglass"), whitespace trimmed, empties dropped; may be absent."""
        value = self._given(name)
        if value is None:
            return frozenset()
        items = value if isinstance(value, list) else str(value).split(",")
        return frozenset(str(item).strip() for item in items if str(item).strip())

    def flag(self, name: str, default: bool) -> bool:
        value = self._given(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if str(value).lower() in _TRUE:
            return True
        if str(value).lower() in _FALSE:
            return False
        raise RuleParameterError(name, f"must be true or false, not {value!r}")

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0) -> int | None:
        value = self._given(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
            raise RuleParameterError(name, f"must be a whole number, not {value!r}")
        number = int(value)
        if number < minimum:
            raise RuleParameterError(name, f"must be at least {minimum}, not {number}")
        return number

    def json_object(self, name: str) -> dict[str, Any]:
        """A parameter that holds a JSON object as text (or an object, from CloudFormation)."""
        value = self._given(name)
        if value is None:
            raise RuleParameterError(name, "is missing (it is required)")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as error:
                raise RuleParameterError(name, f"is not JSON ({error})") from None
        if not isinstance(value, Mapping):
            raise RuleParameterError(name, "must be a JSON object")
        return dict(value)
