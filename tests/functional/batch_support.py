"""Shared by the batch tests: compliance changes varied per resource and time, and a destination that
records when each send started and ended (a fake, not a mock: it really takes time, like a network call)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.errors import DeliveryError
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from notifier.state.base import StateStore
from tests.conftest import compliance_message

# Two destinations every change goes to. Their type is `file` only to satisfy the config schema: the
# pipeline is connected to `Recorder` destinations instead.
RECORDED_CONFIG = """
destinations:
  first: {type: file, path: unused-first.jsonl}
  second: {type: file, path: unused-second.jsonl}
routes:
  - name: every-change
    match: {rule: '*'}
    destinations: [first, second]
"""


def change(resource_id: str, *, new: str = "NON_COMPLIANT", old: str = "COMPLIANT", minute: int = 45) -> dict[str, Any]:
    """The log-group fixture (COMPLIANT -> NON_COMPLIANT at 06:45), about `resource_id`, with the given
    compliance before and after and evaluated at 06:`minute` (later minutes are newer changes)."""
    message = compliance_message("ComplianceChangeNotification__02_")
    message["resourceId"] = resource_id
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        message[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource_id
    message["newEvaluationResult"]["complianceType"] = new
    identifier = message["newEvaluationResult"]["evaluationResultIdentifier"]
    identifier["orderingTimestamp"] = f"2021-11-01T06:{minute:02d}:35.797Z"
    message["oldEvaluationResult"]["complianceType"] = old
    return message


def resolved(resource_id: str, *, minute: int) -> dict[str, Any]:
    return change(resource_id, new="COMPLIANT", old="NON_COMPLIANT", minute=minute)


class Visit(NamedTuple):
    destination: str
    resource_id: str
    kind: str  # the transition kind delivered
    started: float  # time.monotonic()
    ended: float


@dataclass
class Journal:
    """Every send of every Recorder, in the order they ended."""

    delays: dict[str, float] = field(default_factory=dict)  # resource id -> seconds a send takes (default 0.1)
    fail_for: frozenset[str] = frozenset()  # resource ids `first` refuses (a permanent DeliveryError)
    crash_for: frozenset[str] = frozenset()  # resource ids `first` crashes on (a bug in a channel)
    visits: list[Visit] = field(default_factory=list)
    connects: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, resource_id: str, destination: str = "first") -> list[Visit]:
        return sorted(
            (v for v in self.visits if v.resource_id == resource_id and v.destination == destination),
            key=lambda v: v.started,
        )

    def record(self, visit: Visit) -> None:
        with self._lock:
            self.visits.append(visit)

    def connected(self, name: str) -> None:
        with self._lock:
            self.connects[name] = self.connects.get(name, 0) + 1


class Recorder:
    def __init__(self, spec: DestinationSpec, journal: Journal) -> None:
        self.spec = spec
        self.journal = journal

    def send(self, outgoing: Outgoing) -> None:
        resource_id = outgoing.notification.resource_id
        started = time.monotonic()
        time.sleep(self.journal.delays.get(resource_id, 0.1))
        self.journal.record(
            Visit(self.spec.name, resource_id, outgoing.transition.kind.value, started, time.monotonic())
        )
        if self.spec.name == "first" and resource_id in self.journal.fail_for:
            raise DeliveryError(self.spec.name, f"refused {resource_id}", retryable=False)
        if self.spec.name == "first" and resource_id in self.journal.crash_for:
            raise RuntimeError("a bug in the channel")


def recorded_pipeline(journal: Journal, tmp_path: Path, state: StateStore | None = None) -> Pipeline:
    config = parse_config(RECORDED_CONFIG, "routes.yml", tmp_path)

    def connect(spec: DestinationSpec) -> Recorder:
        journal.connected(spec.name)
        time.sleep(0.05)  # connecting takes a while: threads arriving meanwhile must not connect again
        return Recorder(spec, journal)

    return Pipeline(config.tree, config.destinations, state=state, connect=connect)


def overlap(a: Visit, b: Visit) -> bool:
    return a.started < b.ended and b.started < a.ended
