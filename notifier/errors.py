"""The one error tree of compliance-notifier.

    NotifierError
    ├── ConfigError          the routing config is wrong; carries every problem found, each located
    ├── InvalidMessage       an inbound message is not a valid Config notification (names the JSON path)
    ├── SecretError          a secret reference cannot be resolved (names the reference, never the value)
    └── DeliveryError        a destination refused or failed; says whether a retry can help
        └── TicketGone       the ticket we remembered was deleted by hand (HTTP 404): re-create it

Third-party errors (botocore, smtplib, requests) are translated where they are raised, so the
pipeline only ever handles these.
"""

from __future__ import annotations

from dataclasses import dataclass


class NotifierError(Exception):
    """Root of every error this package raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    location: str  # e.g. "routes.yml: routes[2].match.rule"
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class ConfigError(NotifierError):
    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in the routing config:\n{lines}")


class InvalidMessage(NotifierError):
    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class SecretError(NotifierError):
    def __init__(self, reference: str, reason: str):
        self.reference = reference
        super().__init__(f"cannot resolve secret {reference!r}: {reason}")


class DeliveryError(NotifierError):
    def __init__(self, destination: str, reason: str, *, retryable: bool, retry_after: float | None = None):
        self.destination = destination
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the service asked us to wait (429 Retry-After), if any
        super().__init__(f"delivery to {destination!r} failed ({'retryable' if retryable else 'permanent'}): {reason}")


class TicketGone(DeliveryError):
    """The remembered ticket no longer exists (deleted by hand); the caller opens a new one and re-links."""

    def __init__(self, destination: str, ticket: str):
        super().__init__(destination, f"ticket {ticket} no longer exists", retryable=False)
        self.ticket = ticket
