"""Chaos: flaky destinations while 1,000 mixed notifications flow through the SQS handler, then recovery
and `replay`: every expected delivery and ticket action happened exactly once, nothing lost, nothing twice.

Destinations: a signed webhook on a receiver this test controls (scheduled to answer 500, 429 with
Retry-After 0 or 1, hang past the 0.5 s timeout, or be down: connection refused), the Jira Cloud fake
(contract-checked; `fail_next` schedules of 500, 429, and a moment of 401, which is permanent and so
dead-lettered) and a `file` destination as the control that never fails. State is SQLite, so the
ordering guard and the delivery claims are the production ones.

Traffic: RESOURCES log groups, each violated (t1) → resolved (t2) → violated again (t3), in three waves
(every t1, then every t2, then every t3, each wave shuffled), plus exact duplicates (same SNS MessageId
and content, as SNS redelivers) and late, older evaluations (an orderingTimestamp between t1 and t2 that
arrives in the t3 wave, after t2 was seen: always stale). That is 1,000 notifications: 250 × 3 changes,
125 duplicates, 125 late ones. Records SQS must redeliver (`batchItemFailures`) come back three batches
later, as after a visibility timeout; after three receives SQS's redrive moves them to the dead-letter
queue, which `replay` reads once the destinations recovered, with what the handler dead-lettered itself.

Why the figures fit in about 30 s: the Lambda context reports 5.3 s left, so with the handler's 5 s
safety margin a batch may retry for 0.3 s: a batch that meets an outage costs about that (a hang costs the
0.5 s timeout: the deadline does not cut a request short). Outages are scheduled on 9 of every 25 batches,
plus one long webhook outage. Only 50 of the 250 log groups are also routed to Jira: the contract-checked
fake answers one request at a time in about 7 ms, and all 250 (some 2,500 requests) would add 15 s.

The expectation is computed from the exact order the records were handed over, independently of the
system: a change whose last processing was not stale must be at every destination exactly once (its
last processing succeeded, after recovery at the latest); one that was stale every time must be nowhere;
one that was only stale at its last processing (superseded by a newer change while a destination was
failing) may be at a destination at most once. The webhook is counted by `webhook-id`, the file by line.
"""

from __future__ import annotations

import base64
import collections
import fnmatch
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook

from notifier import handler
from notifier.app import build_pipeline
from notifier.cli import main
from notifier.envelopes import decode
from notifier.routing.config import parse_config
from notifier.state import SqliteState
from notifier.state.base import ResourceKey
from tests.conftest import compliance_message, sns_json, sqs_record
from tests.functional.jira_fake import EMAIL, PROJECT, TOKEN, FakeJira

RESOURCES = 250
TICKETED = "/aws/chaos/group-0[0-4]*"  # groups 000-049 also go to Jira: the contract-checked fake takes ~7 ms a call
TICKETED_RESOURCES = 50
DUPLICATES = 125
LATE = 125
BATCH = 10
MAX_RECEIVES = 3  # the queue's redrive policy: after this many receives the record goes to the dead-letter queue
REDELIVER_AFTER_BATCHES = 3  # the visibility timeout, counted in batches
REMAINING_MILLIS = 5300  # minus the handler's 5 s safety margin: 0.3 s of retrying per batch
HOOK_TIMEOUT = 0.5
HANG_SECONDS = 0.8  # past HOOK_TIMEOUT
OUTAGE_START, OUTAGE_BATCHES = 40, 7  # longer than MAX_RECEIVES × REDELIVER_AFTER_BATCHES: some reach the DLQ

C, NC = "COMPLIANT", "NON_COMPLIANT"
T1, T2, T3 = "2026-11-01T10:00:00.000Z", "2026-11-01T12:00:00.000Z", "2026-11-01T13:00:00.000Z"
T_LATE = "2026-11-01T10:30:00.000Z"  # between T1 and T2: older than what every resource holds by the third wave

CONFIG = """
destinations:
  chaos-hook:
    type: webhook
    url: "{hook}"
    secrets: ["env:CHAOS_HOOK_SECRET"]
    timeout: {timeout}
  chaos-jira:
    type: jira
    flavor: cloud
    url: {jira}
    project: {project}
    email: {email}
    token: env:JIRA_TOKEN
    reopen_within: 30d
  audit:
    type: file
    path: {audit}
routes:
  - name: chaos-ticketed
    match:
      resource_type: AWS::Logs::LogGroup
      transition: [violated, resolved]
      resource_id: "{ticketed}"
    destinations: [chaos-hook, chaos-jira, audit]
    baseline: false
  - name: chaos
    match:
      resource_type: AWS::Logs::LogGroup
      transition: [violated, resolved]
    destinations: [chaos-hook, audit]
    baseline: false
"""


# -- the webhook receiver ------------------------------------------------------------------------------


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that fails on a schedule and records what it accepted.

    `schedule` holds the next answers to give instead of accepting ("500", "429:0", "429:1", "hang"); `down()`
    closes the listening socket (connection refused) and `up()` listens on the same port again. A request
    that hangs is answered after the sender gave up and is not counted as accepted. An id accepted once and
    sent again (its answer reached the sender too late) is dropped by id, as the spec asks of receivers,
    and counted apart: a webhook is at-least-once on the wire and exactly once by webhook-id."""

    def __init__(self, secret: str) -> None:
        self.verifier = Webhook(secret)
        self.accepted: list[tuple[str, dict[str, Any]]] = []  # (webhook-id, body), each id once
        self.accepted_ids: set[str] = set()
        self.resent_after_acceptance = 0  # an accepted id arriving again: dropped by id
        self.attempted: list[str] = []  # the webhook-id of every request that reached the server
        self.refused = collections.Counter[str]()
        self.bad_signatures: list[str] = []
        self.schedule: collections.deque[str] = collections.deque()
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, headers = receiver.answer(body, dict(self.headers.items()))
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # a hung request's sender has gone already
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, name="chaos-webhook", daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()  # nothing listens any more: the sender's connect is refused
            self.server = None

    def answer(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        with self.lock:
            scheduled = self.schedule.popleft() if self.schedule else None
            self.attempted.append(headers.get("webhook-id") or headers.get("Webhook-Id") or "")
        if scheduled == "hang":
            self.refused["hang"] += 1
            time.sleep(HANG_SECONDS)
            return 503, {}
        if scheduled is not None:
            self.refused[scheduled] += 1
            status, _, retry_after = scheduled.partition(":")
            return int(status), {"Retry-After": retry_after} if retry_after else {}
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            self.verifier.verify(body, lowered)
        except Exception as exc:
            self.bad_signatures.append(f"{lowered.get('webhook-id')}: {exc}")
            return 400, {}
        with self.lock:
            # As Standard Webhooks asks of every receiver: an id already accepted is a re-send (the sender
            # did not see our answer in time, e.g. a call cut short by the Lambda's deadline on a loaded
            # machine) — answered 2xx and dropped, counted apart. Two *different* ids for one change would
            # be a real double delivery, and the proof below refuses it.
            if lowered["webhook-id"] in self.accepted_ids:
                self.resent_after_acceptance += 1
                return 204, {}
            self.accepted_ids.add(lowered["webhook-id"])
            self.accepted.append((lowered["webhook-id"], json.loads(body)))
        return 204, {}


# -- the traffic ---------------------------------------------------------------------------------------


def change_message(resource: str, old: str, new: str, at: str) -> dict[str, Any]:
    message = compliance_message("ComplianceChangeNotification__02_")
    message["resourceId"] = resource
    message["newEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource
    message["oldEvaluationResult"]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource
    message["oldEvaluationResult"]["complianceType"] = old
    message["newEvaluationResult"]["complianceType"] = new
    message["newEvaluationResult"]["evaluationResultIdentifier"]["orderingTimestamp"] = at
    message["newEvaluationResult"]["resultRecordedTime"] = at
    return message


@dataclass(frozen=True)
class Sent:
    """One SQS message: its record (stable across receives, as SQS keeps the messageId) and what it says."""

    record: dict[str, Any]
    change: tuple[str, str, str]  # (resource, orderingTimestamp, compliance): what content_key identifies
    kind: str  # "change", "duplicate" or "late"


def sqs_message(resource: str, old: str, new: str, at: str, sns_id: str, kind: str) -> Sent:
    document = sns_json(change_message(resource, old, new, at))
    document["MessageId"] = sns_id
    return Sent(sqs_record(json.dumps(document)), (resource, at, new), kind)


def traffic(rng: random.Random) -> list[Sent]:
    resources = [f"/aws/chaos/group-{n:03d}" for n in range(RESOURCES)]
    waves: list[list[Sent]] = []
    for step, (old, new, at) in enumerate([(C, NC, T1), (NC, C, T2), (C, NC, T3)]):
        waves.append([sqs_message(r, old, new, at, f"sns-{step}-{r}", "change") for r in resources])
    for wave in waves:  # SNS delivering the very same message twice: same MessageId, same content
        for original in rng.sample(wave, DUPLICATES // len(waves) + 1):
            body = original.record["body"]
            wave.append(Sent(sqs_record(body), original.change, "duplicate"))
    # Older than the t2 every resource already has when the third wave arrives: stale whatever happens.
    waves[2].extend(sqs_message(r, NC, C, T_LATE, f"sns-late-{r}", "late") for r in rng.sample(resources, LATE))
    for wave in waves:
        rng.shuffle(wave)
    sent = [message for wave in waves for message in wave]
    excess = len(sent) - (RESOURCES * 3 + DUPLICATES + LATE)
    for _ in range(excess):  # the per-wave rounding above made a few duplicates too many
        sent.remove(next(m for m in sent if m.kind == "duplicate"))
    return sent


# -- the chaos schedule --------------------------------------------------------------------------------


@dataclass
class Chaos:
    hook: WebhookReceiver
    jira: FakeJira
    applied: collections.Counter[str] = field(default_factory=collections.Counter)

    def before_batch(self, number: int) -> None:
        """Short outages of every kind, one after another (a schedule, not random), plus one long webhook
        outage that outlasts the queue's three receives, and a Jira that refuses the token for a moment."""
        if OUTAGE_START <= number < OUTAGE_START + OUTAGE_BATCHES:
            self._down()
            return
        phase = number % 25
        if phase == 0:
            self._hook(["500"] * 4)
        elif phase == 2:
            self._jira(500, times=3)
        elif phase == 4:
            self._hook(["429:0"] * 5)
        elif phase == 6:
            self._hook(["hang"] * 2)
        elif phase == 8:
            self._jira(429, times=2, headers={"Retry-After": "1"})
        elif phase == 10:
            self._down()
        elif phase == 12:
            self._hook(["429:1"])
            self._jira(429, times=1, headers={"Retry-After": "0"})
        elif phase == 14:
            self._hook(["500"])
            self._jira(500, times=1)
        elif phase == 16 and number < OUTAGE_START:
            self._jira(401, times=2)  # permanent: the handler dead-letters these records with the reason

    def _down(self) -> None:
        self.hook.down()
        self.applied["webhook down (connection refused)"] += 1

    def after_batch(self) -> None:
        if self.hook.server is None:
            self.hook.up()

    def recover(self) -> None:
        self.after_batch()
        self.hook.schedule.clear()
        self.jira._failures.clear()

    def _hook(self, answers: list[str]) -> None:
        self.hook.schedule.extend(answers)
        self.applied[f"webhook {answers[0]}"] += len(answers)

    def _jira(self, status: int, *, times: int, headers: dict[str, str] | None = None) -> None:
        self.jira.fail_next(status, times=times, headers=headers, body={"errorMessages": ["chaos"], "errors": {}})
        self.applied[f"jira {status}{' ' + str(headers) if headers else ''}"] += times


class LambdaContext:
    """What the handler reads from Lambda's context: the time left, small so that retries stop quickly."""

    def get_remaining_time_in_millis(self) -> int:
        return REMAINING_MILLIS


# -- the reference model -------------------------------------------------------------------------------


class OrderingModel:
    """The ordering guard, recomputed from the order records were handed over: fresh, repeat or stale."""

    def __init__(self) -> None:
        self.newest: dict[str, str] = {}
        self.judgements: dict[tuple[str, str, str], list[str]] = collections.defaultdict(list)

    def fed(self, sent: Sent) -> None:
        resource, at, _ = sent.change
        newest = self.newest.get(resource)
        if newest is None or at > newest:
            self.newest[resource] = at
            self.judgements[sent.change].append("fresh")
        else:
            self.judgements[sent.change].append("repeat" if at == newest else "stale")

    def owed(self) -> set[tuple[str, str, str]]:
        return {change for change, seen in self.judgements.items() if seen[-1] != "stale"}

    def never(self) -> set[tuple[str, str, str]]:
        return {change for change, seen in self.judgements.items() if set(seen) == {"stale"}}

    def superseded(self) -> set[tuple[str, str, str]]:
        return set(self.judgements) - self.owed() - self.never()


# -- the test --------------------------------------------------------------------------------------


@pytest.fixture
def jira(httpserver: HTTPServer) -> Iterator[FakeJira]:
    fake = FakeJira(httpserver, flavor="cloud")
    yield fake
    assert fake.violations == [], "\n".join(fake.violations[:10])


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("CHAOS_HOOK_SECRET", secret)
    receiver = WebhookReceiver(secret)
    yield receiver
    receiver.down()


def test_chaos_then_recovery_and_replay_deliver_everything_exactly_once(
    jira: FakeJira,
    hook: WebhookReceiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    audit = tmp_path / "audit.jsonl"
    config_path = tmp_path / "routes.yml"
    config_path.write_text(
        CONFIG.format(
            hook=hook.url,
            ticketed=TICKETED,
            timeout=HOOK_TIMEOUT,
            jira=jira.url,
            project=PROJECT,
            email=EMAIL,
            audit=audit,
        )
    )
    state_path = tmp_path / "state.sqlite"
    state = SqliteState(state_path)
    pipeline = build_pipeline(parse_config(config_path.read_text(), str(config_path), tmp_path), state=state)
    dead_lettered: list[tuple[str, dict[str, str]]] = []
    # Restored after the test (monkeypatch remembers the originals), so no other test sees this pipeline.
    monkeypatch.setattr(handler, "_pipeline", None)
    monkeypatch.setattr(handler, "_send_dead_letter", handler._send_dead_letter)
    handler.set_pipeline(pipeline)
    handler.set_dead_letter_sender(lambda body, attributes: dead_lettered.append((body, attributes)))

    started = time.monotonic()
    sent = traffic(random.Random(20261128))
    by_record = {message.record["messageId"]: message for message in sent}
    model, chaos = OrderingModel(), Chaos(hook, jira)
    fresh = collections.deque(sent)
    waiting: list[tuple[int, Sent]] = []  # (batch number when SQS shows it again, message)
    receives: collections.Counter[str] = collections.Counter()
    redelivered, redriven = 0, []

    def run_batch(number: int, batch: list[Sent]) -> None:
        nonlocal redelivered
        for message in batch:
            model.fed(message)
            receives[message.record["messageId"]] += 1
        answer = handler.lambda_handler({"Records": [m.record for m in batch]}, LambdaContext())
        for failure in answer["batchItemFailures"]:
            message = by_record[failure["itemIdentifier"]]
            if receives[message.record["messageId"]] >= MAX_RECEIVES:
                redriven.append(message)  # SQS's redrive policy: to the dead-letter queue, without a reason
            else:
                waiting.append((number + REDELIVER_AFTER_BATCHES, message))
                redelivered += 1

    def next_batch(number: int) -> list[Sent]:
        due = [entry for entry in waiting if entry[0] <= number][:BATCH]
        for entry in due:
            waiting.remove(entry)
        batch = [message for _, message in due]
        while fresh and len(batch) < BATCH:
            batch.append(fresh.popleft())
        return batch

    number = 0
    while fresh:  # the chaos
        chaos.before_batch(number)
        run_batch(number, next_batch(number))
        chaos.after_batch()
        number += 1
    chaos_seconds = time.monotonic() - started

    chaos.recover()  # SQS keeps redelivering what is still in flight; now it goes through
    while waiting:
        number += 1
        batch = next_batch(number)
        if batch:  # nothing is due while the rest wait out their visibility timeout
            run_batch(number, batch)
    assert not waiting

    # The dead-letter queue as `replay` reads it: the original SQS bodies, one per line.
    dead_letter_file = tmp_path / "dead-letters.jsonl"
    to_replay = [body for body, _ in dead_lettered] + [message.record["body"] for message in redriven]
    dead_letter_file.write_text("".join(body + "\n" for body in to_replay))
    bodies = {message.record["body"]: message for message in sent}
    for body in to_replay:  # replay processes the file in order: the model sees it the same way
        model.fed(bodies[body])
    state.close()
    capsys.readouterr()
    replay = ["replay", "--from", str(dead_letter_file), "--config", str(config_path), "--format", "json"]
    code = main([*replay, "--state", f"sqlite://{state_path}"])
    report = json.loads(capsys.readouterr().out)
    elapsed = time.monotonic() - started

    # -- what each destination has ------------------------------------------------------------------
    owed, never, superseded = model.owed(), model.never(), model.superseded()
    hook_ids = [webhook_id for webhook_id, _ in hook.accepted]
    hook_changes = collections.Counter(
        (
            body["notification"]["resource_id"],
            body["notification"]["new"]["ordering_timestamp"],
            body["notification"]["new"]["compliance"],
        )
        for _, body in hook.accepted
    )
    lines = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    file_changes = collections.Counter(
        (
            line["notification"]["resource_id"],
            line["notification"]["ordering_timestamp"],
            line["transition"]["to"],
        )
        for line in lines
    )
    issues_by_resource = collections.defaultdict(list)
    for issue in jira.issues.values():
        [label] = [label for label in issue.fields["labels"] if label.startswith("cn-")]
        issues_by_resource[label].append(issue)

    stale_suppressed = sum(seen.count("stale") for seen in model.judgements.values())
    duplicates_suppressed = sum(seen.count("repeat") for seen in model.judgements.values())
    rows = [
        ("notifications sent", len(sent)),
        ("  of which exact duplicates", sum(m.kind == "duplicate" for m in sent)),
        ("  of which late (older) re-sends", sum(m.kind == "late" for m in sent)),
        ("batches handled", number + 1),
        ("webhook requests repeating a webhook-id (retries)", len(hook.attempted) - len(set(hook.attempted))),
        ("records redelivered by SQS (batchItemFailures)", redelivered),
        ("dead-lettered by the handler", len(dead_lettered)),
        ("moved to the DLQ by the redrive policy", len(redriven)),
        ("replayed", report["summary"]["received"]),
        ("  replay succeeded / failed", f"{report['summary']['succeeded']} / {report['summary']['failed']}"),
        ("repeats judged (duplicates, retries: claims decide)", duplicates_suppressed),
        ("stale judged (suppressed)", stale_suppressed),
        ("changes owed to every destination", len(owed)),
        ("changes stale every time (never sent)", len(never)),
        ("changes superseded while failing", len(superseded)),
        ("webhook accepted / unique webhook-ids", f"{len(hook_ids)} / {len(set(hook_ids))}"),
        ("webhook ids re-sent after acceptance (dropped by id)", hook.resent_after_acceptance),
        ("webhook refused on schedule", dict(hook.refused)),
        ("file lines / unique changes", f"{len(lines)} / {len(file_changes)}"),
        ("jira issues / resources with an issue", f"{len(jira.issues)} / {len(issues_by_resource)}"),
        ("jira requests", len(jira.requests)),
        ("chaos applied", dict(chaos.applied)),
        ("seconds: chaos / total", f"{chaos_seconds:.1f} / {elapsed:.1f}"),
    ]
    with capsys.disabled():
        print("\nchaos proof")
        for name, value in rows:
            print(f"  {name:<52} {value}")

    # -- the proof ----------------------------------------------------------------------------------
    assert code == 0, [r for r in report["records"] if r["result"] != "succeeded"][:5]
    assert report["summary"]["received"] == len(to_replay) > 0  # the chaos did leave something to replay
    assert redelivered > 0 and sum(hook.refused.values()) > 0  # and the outages really happened
    assert hook.bad_signatures == []

    for name, delivered in (("webhook", hook_changes), ("file", file_changes)):
        twice = {change: n for change, n in delivered.items() if n > 1}
        assert not twice, f"{name}: delivered more than once: {list(twice.items())[:5]}"
        lost = owed - set(delivered)
        assert not lost, f"{name}: {len(lost)} owed change(s) never delivered, e.g. {sorted(lost)[:5]}"
        stale = never & set(delivered)
        assert not stale, f"{name}: stale change(s) delivered: {sorted(stale)[:5]}"
        unexpected = set(delivered) - owed - superseded
        assert not unexpected, f"{name}: deliveries nobody sent: {sorted(unexpected)[:5]}"
    assert len(hook_ids) == len(set(hook_ids)) == len(hook_changes)
    late = {message.change for message in sent if message.kind == "late"}
    assert late <= never  # the late ones were stale every time they came, and went nowhere

    # Jira: the latest state of every resource is t3, non-compliant: exactly one issue each, open.
    assert len(issues_by_resource) == TICKETED_RESOURCES
    doubled = {label: [i.key for i in issues] for label, issues in issues_by_resource.items() if len(issues) > 1}
    assert not doubled, f"more than one issue for a resource: {list(doubled.items())[:5]}"
    not_open = [i.key for i in jira.issues.values() if i.status == "Done"]
    assert not not_open, f"issues left Done although the resource is non-compliant again: {not_open[:5]}"
    for issue in jira.issues.values():
        # One comment per change the ticket followed (resolved, violated again): the same one twice is a repeat.
        comments = [json.dumps(comment, sort_keys=True) for comment in issue.comments]
        assert len(comments) == len(set(comments)), (issue.key, "the same comment twice", issue.transitions)
        assert all(a != b for a, b in zip(issue.transitions, issue.transitions[1:], strict=False)), (
            issue.key,
            issue.transitions,
        )
    resources_whole = {
        resource
        for resource in {change[0] for change in owed if fnmatch.fnmatchcase(change[0], TICKETED)}
        if all((resource, at, new) in owed for at, new in ((T1, NC), (T2, C), (T3, NC)))
    }
    for resource in resources_whole:  # the whole story reached Jira: opened, resolved, reopened, once each
        [issue] = issues_by_resource[resource_label(resource)]
        assert (issue.transitions, len(issue.comments)) == (["Done", "Reopen"], 2), (issue.key, issue.transitions)
    assert len(resources_whole) > TICKETED_RESOURCES // 2


def resource_label(resource: str) -> str:
    """The Jira label the notifier gives this log group's tickets (ResourceKey.label)."""
    message = change_message(resource, C, NC, T1)
    return ResourceKey(
        message["awsAccountId"], message["awsRegion"], message["configRuleName"], message["resourceType"], resource
    ).label


TICKET_CONFIG = """
destinations:
  chaos-jira: {{type: jira, flavor: cloud, url: "{jira}", project: {project}, email: {email}, token: env:JIRA_TOKEN}}
routes:
  - name: tickets
    match: {{transition: [violated, resolved]}}
    destinations: [chaos-jira]
    baseline: false
"""


def test_a_resolve_retried_after_its_comment_went_through_comments_once(
    jira: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    config = parse_config(TICKET_CONFIG.format(jira=jira.url, project=PROJECT, email=EMAIL), "routes.yml", tmp_path)
    state = SqliteState(tmp_path / "state.sqlite")
    pipeline = build_pipeline(config, state=state)
    group = "/aws/chaos/group-000"
    violated, resolved = (
        decode(json.loads(sqs_message(group, old, new, at, f"sns-{at}", "change").record["body"]))[0]
        for old, new, at in ((C, NC, T1), (NC, C, T2))
    )
    pipeline.process(violated)
    jira.fail_next(500, path_contains="/transitions")  # the comment went through; listing the transitions did not
    outcome = pipeline.process(resolved)
    state.close()
    assert not outcome.failed_deliveries  # the retry inside the delivery succeeded
    [issue] = jira.issues.values()
    assert issue.transitions == ["Done"]
    assert len(issue.comments) == 1, "the resolve comment was posted twice"
