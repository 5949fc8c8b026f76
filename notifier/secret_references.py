"""Find every secret reference a routing config holds, and check that each one resolves.

Used by `check-config --resolve-secrets` and at cold start (`app.pipeline_from_environment`), so a
reference that cannot be resolved stops the deployment with a sentence naming the destination, the
key and the reference — never the value, which is resolved, checked for presence and dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .destinations.base import DestinationSpec
from .errors import ConfigError, ConfigProblem, SecretError
from .secrets import SecretResolver, is_secret_reference

SECRET_KEYS = ("password", "token", "client_secret", "secrets", "webhook_url")


@dataclass(frozen=True, slots=True)
class SecretUse:
    destination: str
    key: str  # e.g. "password", "secrets[1]"
    reference: str


def secret_uses(destinations: Mapping[str, DestinationSpec]) -> Iterator[SecretUse]:
    for name, spec in destinations.items():
        for key in SECRET_KEYS:
            value = spec.options.get(key)
            if isinstance(value, str):
                yield SecretUse(name, key, value)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, str):
                        yield SecretUse(name, f"{key}[{index}]", item)
        headers = spec.options.get("headers")
        if isinstance(headers, dict):  # a webhook header's value may be a literal or a reference
            for header, value in headers.items():
                if isinstance(value, str) and is_secret_reference(value):
                    yield SecretUse(name, f"headers.{header}", value)


def unresolvable(
    destinations: Mapping[str, DestinationSpec], resolver: SecretResolver, source: str
) -> list[ConfigProblem]:
    """One problem per reference that does not resolve; the resolved values are never kept or shown."""
    problems = []
    for use in secret_uses(destinations):
        try:
            resolver.resolve(use.reference)
        except SecretError as exc:
            location = f"{source}: destinations.{use.destination}.{use.key}"
            problems.append(ConfigProblem(location, str(exc)))
    return problems


def require_resolvable(destinations: Mapping[str, DestinationSpec], resolver: SecretResolver, source: str) -> None:
    """Raise ConfigError naming every reference that does not resolve (the cold-start check)."""
    problems = unresolvable(destinations, resolver, source)
    if problems:
        raise ConfigError(problems)
