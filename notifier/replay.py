"""`compliance-notifier replay`: re-process dead letters through the normal pipeline.

Every dead letter (from a file or an SQS dead-letter queue, see `replay_sources`) goes through
`Pipeline.process` exactly as a live message would, so the state store's ordering guard and
per-destination delivery claims apply: a change a destination already has is not sent again, and
replaying twice is harmless. Each letter then gets one result:

    succeeded  nothing failed (sent, already sent, stale, unrouted, skipped): deleted from SQS
    failed     a delivery failed: kept (SQS: made visible again when the run ends, for the next replay)
    pending    with --destination: delivered there, but another destination it routes to does not have
               it yet by the state store: kept, so a later replay can deliver it there
    invalid    it does not validate. From SQS it is moved to the config's `invalid_messages` file (the
               dead letter for messages no retry can fix) and then deleted; without that destination, or
               when writing it failed, it is kept. From a file it is only reported (the file is the record).

Files are never modified: a file's `kept` letters are simply those to replay again later.
`--destination NAME` builds the pipeline with every other destination marked `left_out` (delivery returns
"dry-run" before claiming, sending or recording anything): the routes are still evaluated, which is how
`pending` is known, and the others' claims stay free for a later replay. With it, invalid messages are
moved only when NAME is the `invalid_messages` destination. `--dry-run` processes with send=False against
a read-only state store: nothing is sent, recorded or deleted (received SQS messages are made visible again
at the end). `--dry-run-updates-state` is for `dry_run: true` destinations, as in `run` (docs/dry-run.md).
Exit 0 when no letter failed or was invalid (pending ones do not fail the run: what was asked for was
done), 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TextIO

from .batch import process_batch, workers_from_environment
from .destinations.base import DestinationSpec
from .errors import NotifierError
from .outcome import Outcome
from .replay_sources import QUEUE_SCHEME, SQS_BATCH_LIMIT, DeadLetterQueue, Letter, letters_from_file
from .routing.config import RoutingConfig
from .state.base import StateStore

# Long enough for a batch of 10 with every destination retrying up to its timeout; deliveries get a
# deadline before it runs out, so a message is never visible to another reader while still in flight.
VISIBILITY_TIMEOUT_SECONDS = 300
DEADLINE_MARGIN_SECONDS = 30

Result = Literal["succeeded", "failed", "pending", "invalid"]
Judged = tuple[Letter, Outcome, Result, bool, str]  # the letter, its outcome, result, removable, reason


class Verdict(NamedTuple):
    """What became of one dead letter: the pipeline's outcome, its result, and what was done with it."""

    letter: Letter
    outcome: Outcome
    result: Result
    action: str  # deleted | kept | replayed, or would-delete | would-keep | would-replay (--dry-run)
    reason: str

    def to_json(self) -> dict[str, Any]:
        head = {"input": self.letter.origin, "action": self.action, "result": self.result, "reason": self.reason}
        return {**head, **self.outcome.to_json(), "first_failure": self.letter.first_failure}

    def to_text(self) -> str:
        n = self.outcome.notification
        what = f" {n.rule} {n.resource_type} {n.resource_id} ({n.account}/{n.region})" if n else ""
        return f"{self.action:<12} {self.letter.origin}{what}: {self.reason}"


@dataclass
class Summary:
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    invalid: int = 0
    not_deleted: int = 0  # succeeded, but SQS refused the delete: it will be replayed (harmlessly) again

    def add(self, verdict: Verdict) -> None:
        self.received += 1
        setattr(self, verdict.result, getattr(self, verdict.result) + 1)
        self.not_deleted += verdict.result == "succeeded" and verdict.action == "kept"

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.invalid or self.not_deleted else 0

    def to_text(self, source: str, dry_run: bool) -> str:
        would = "would have " if dry_run else ""
        line = (
            f"{source}: {self.received} received, {self.succeeded} {would}succeeded, {self.failed} failed (kept), "
            f"{self.pending} pending another destination (kept), {self.invalid} invalid"
        )
        line += f", {self.not_deleted} not deleted" if self.not_deleted else ""
        return line + (" [dry run: nothing sent, recorded or deleted]" if dry_run else "")


class Replayer:
    """One pipeline built for the replay, and the rule that judges each processed letter."""

    def __init__(
        self,
        config: RoutingConfig,
        state: StateStore | None,
        *,
        destination: str | None = None,
        dry_run: bool = False,
        dead_letter_invalid: bool = True,
        dry_run_updates_state: bool | None = None,  # None: NOTIFIER_DRY_RUN_UPDATES_STATE decides
    ) -> None:
        from .app import build_pipeline

        if destination is not None and destination not in config.destinations:
            known = ", ".join(config.destinations) or "none"
            raise NotifierError(f"--destination {destination!r} is not defined in {config.source} (defined: {known})")
        self.left_out = frozenset(config.destinations) - {destination} if destination else frozenset[str]()
        # Left-out destinations the config sends to for real: a message they do not have yet stays pending.
        self.owed_to = frozenset(name for name in self.left_out if not config.destinations[name].dry_run)
        if not dead_letter_invalid:
            self.not_moving = "not moved: a file is only read, never rewritten"
        elif config.invalid_messages is None:
            self.not_moving = "kept: the config names no invalid_messages destination to move it to"
        elif destination not in (None, config.invalid_messages):
            self.not_moving = "kept: with --destination, only that destination is written"
        else:
            self.not_moving = ""
        self.invalid_messages = None if self.not_moving else config.invalid_messages
        destinations = config.destinations
        specs = {name: _held_back(spec) if name in self.left_out else spec for name, spec in destinations.items()}
        replay_config = dataclasses.replace(
            config, destinations=MappingProxyType(specs), invalid_messages=self.invalid_messages
        )
        self.pipeline = build_pipeline(replay_config, state=state, dry_run_updates_state=dry_run_updates_state)
        self.state = state
        self.dry_run = dry_run
        self.workers = workers_from_environment()

    def process(self, letters: Sequence[Letter], *, deadline: float | None = None) -> list[Judged]:
        """Process letters the way `run` and the handler do (concurrently, each resource's in order), and
        judge each: (letter, outcome, result, whether it may be removed from its source, reason)."""
        messages = [letter.message for letter in letters]
        send = not self.dry_run
        outcomes = process_batch(self.pipeline, messages, deadline=deadline, workers=self.workers, send=send)
        return [(letter, out, *self._judge(letter, out)) for letter, out in zip(letters, outcomes, strict=True)]

    def _judge(self, letter: Letter, outcome: Outcome) -> tuple[Result, bool, str]:
        deliveries = _deliveries_text(outcome, self.left_out)
        if outcome.status == "invalid":
            written = "send" if self.dry_run else "sent"
            moved = any(d.destination == self.invalid_messages and d.action == written for d in outcome.deliveries)
            if moved:
                fate = f"moved to the invalid_messages destination {self.invalid_messages!r}"
            else:
                fate = self.not_moving or f"kept: {deliveries}"  # writing the invalid_messages file failed
            return "invalid", moved, f"invalid: {outcome.error}; {fate}"
        if outcome.failed_deliveries:
            return "failed", False, f"{outcome.status}: {deliveries}"
        owed = self._owed(outcome)
        if owed:
            reason = f"{outcome.status}: {deliveries}; still owed to {', '.join(owed)} (left out by --destination)"
            return "pending", False, reason
        return "succeeded", True, _success_reason(letter, outcome, deliveries)

    def _owed(self, outcome: Outcome) -> list[str]:
        n = outcome.notification
        left_out = [d.destination for d in outcome.deliveries if d.destination in self.owed_to]
        if n is None or self.state is None:
            return left_out  # without a store nobody can say they have it: keep it for them
        return [name for name in left_out if not self.state.was_delivered(n.content_key, name)]


def replay_file(replayer: Replayer, path: Path, *, max_messages: int | None = None) -> Iterator[Verdict]:
    letters = letters_from_file(path)[:max_messages]
    for start in range(0, len(letters), SQS_BATCH_LIMIT):  # batches like the queue's: progress shows as it goes
        for letter, outcome, result, removable, reason in replayer.process(letters[start : start + SQS_BATCH_LIMIT]):
            action = "replayed" if removable else "kept"
            if replayer.dry_run:
                action = "would-replay" if removable else "would-keep"
            yield Verdict(letter, outcome, result, action, reason)


def replay_queue(replayer: Replayer, queue: DeadLetterQueue, *, max_messages: int | None = None) -> Iterator[Verdict]:
    """Receive batches of up to 10 until the queue answers empty (or `max_messages`); delete each succeeded
    message after its batch was processed; make every message not deleted visible again at the end."""
    seen: set[str] = set()
    held: dict[str, Letter] = {}  # received and not deleted: released at the end, even when the run fails
    try:
        while max_messages is None or len(seen) < max_messages:
            limit = SQS_BATCH_LIMIT if max_messages is None else max_messages - len(seen)
            batch = queue.receive(limit, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS)
            deadline = time.monotonic() + VISIBILITY_TIMEOUT_SECONDS - DEADLINE_MARGIN_SECONDS
            # A message seen already reappeared because its timeout ran out during this run: leave it for
            # the next replay, and stop when nothing new arrives (a run must end even then).
            fresh = [letter for letter in batch if letter.origin not in seen]
            if not fresh:
                break
            seen.update(letter.origin for letter in fresh)
            held.update((letter.origin, letter) for letter in fresh)
            judged = replayer.process(fresh, deadline=deadline)
            removable = [letter for letter, _, _, ok, _ in judged if ok]
            not_deleted = {} if replayer.dry_run else queue.delete(removable)
            for letter, outcome, result, ok, reason in judged:
                if replayer.dry_run:
                    yield Verdict(letter, outcome, result, "would-delete" if ok else "would-keep", reason)
                elif ok and letter.origin not in not_deleted:
                    del held[letter.origin]
                    yield Verdict(letter, outcome, result, "deleted", reason)
                else:
                    why = f"; the delete failed: {not_deleted[letter.origin]}" if letter.origin in not_deleted else ""
                    yield Verdict(letter, outcome, result, "kept", reason + why)
    finally:
        queue.release(list(held.values()))


def run_replay(
    source: str,
    *,
    config: RoutingConfig,
    state_url: str | None,
    destination: str | None = None,
    dry_run: bool = False,
    max_messages: int | None = None,
    output_format: str = "text",
    out: TextIO,
    dry_run_updates_state: bool | None = None,
) -> int:
    """The CLI command: replay `source` (sqs://... or a file), print one line or record per letter, then the
    summary; returns the exit code."""
    from .state import default_state_url, open_state
    from .telemetry import log_outcomes

    if max_messages is not None and max_messages < 1:
        raise NotifierError(f"--max must be at least 1, not {max_messages}")
    from_queue = source.startswith(QUEUE_SCHEME)
    queue = DeadLetterQueue(source) if from_queue else None  # a bad queue reference fails before any work
    if not from_queue and not Path(source).is_file():
        raise NotifierError(f"{source}: no such file (a queue is given as sqs://QUEUE_URL or sqs://queue-name)")
    state = open_state(state_url or default_state_url(), read_only=dry_run)
    summary, records = Summary(), []
    try:
        replayer = Replayer(
            config, state, destination=destination, dry_run=dry_run, dead_letter_invalid=from_queue,
            dry_run_updates_state=dry_run_updates_state,
        )  # fmt: skip
        verdicts = (
            replay_queue(replayer, queue, max_messages=max_messages)
            if queue is not None
            else replay_file(replayer, Path(source), max_messages=max_messages)
        )
        for verdict in verdicts:
            summary.add(verdict)
            log_outcomes([verdict.outcome])
            if output_format == "json":
                records.append(verdict.to_json())
            else:
                out.write(verdict.to_text() + "\n")
                out.flush()  # a long replay shows its progress
    finally:
        state.close()
    if output_format == "json":
        summary_record = {**dataclasses.asdict(summary), "source": source, "dry_run": dry_run}
        json.dump({"records": records, "summary": summary_record}, out, indent=2)
        out.write("\n")
    else:
        out.write(summary.to_text(source, dry_run) + "\n")
    return summary.exit_code


def _held_back(spec: DestinationSpec) -> DestinationSpec:
    """The spec as --destination leaves it out: delivery returns "dry-run" before claiming, sending or recording."""
    return dataclasses.replace(spec, left_out=True)


def _deliveries_text(outcome: Outcome, left_out: frozenset[str]) -> str:
    parts = []
    for d in outcome.deliveries:
        if d.destination in left_out and d.action == "dry-run":
            parts.append(f"{d.destination} left out")
            continue
        ticket = f" ({d.ticket_action} {d.ticket or ''})".replace(" )", ")") if d.ticket_action else ""
        # DeliveryError's text repeats the destination: "delivery to 'x' failed (retryable): <reason>".
        error = f" {d.error.removeprefix(f'delivery to {d.destination!r} failed ')}" if d.error else ""
        parts.append(f"{d.destination} {d.action}{ticket}{error}")
    return ", ".join(parts)


def _success_reason(letter: Letter, outcome: Outcome, deliveries: str) -> str:
    why = {
        "skipped": f"not a compliance change ({letter.message.skip_reason or outcome.message_type})",
        "unrouted": "no route matches this change",
        "stale": "older than what the state store holds for this resource: nothing to send",
        "duplicate": "every destination already had it",
    }.get(outcome.status)
    return f"{outcome.status}: {why or deliveries}"
