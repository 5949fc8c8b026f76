"""The last step: what went through, what each destination did, the compliance report, and where every
artefact is."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from .artefacts import actions_by_destination
from .session import Session


def summarize(session: Session, digests: list[dict[str, Any]] | None = None) -> None:
    n, artefacts, out = session.narrator, session.artefacts, session.out
    history = artefacts.history()
    published = ", ".join(f"{count} {kind}" for kind, count in sorted(session.published.items()))
    kinds = Counter(entry.kind for entry in history)
    intake = session.intake
    failures = len(intake.failures)
    n.table(
        ["what", "count", "detail"],
        [
            ["published by Config", sum(session.published.values()), published],
            ["kept out by the filter", session.filtered, "SNS FilterPolicyScope MessageBody"],
            ["handed to the handler", intake.records, f"{intake.invocations - intake.flushes} SQS batch(es) of ≤ 10"],
            ["batchItemFailures", failures, "retried by SQS" if failures else "none"],
            ["notifications recorded", len(history), ", ".join(f"{c} {k}" for k, c in sorted(kinds.items()))],
            *([["digest flushes", intake.flushes, '{"notifier": "flush-digests"}, as the schedule sends it']]
              if intake.flushes else []),
        ],
    )  # fmt: skip
    n.say()
    table = actions_by_destination(history)
    for digest in digests or []:
        table.setdefault(digest["destination"], Counter())[f"digest:{digest['action']}"] += 1
    columns = sorted({action for counts in table.values() for action in counts})
    types = {name: spec.type for name, spec in session.routes.destinations.items()}
    rows = [
        [name, types.get(name, "?"), *(counts.get(c, 0) for c in columns)] for name, counts in sorted(table.items())
    ]
    n.table(["destination", "type", *columns], rows)
    n.say()
    report = write_report(session)
    emails = artefacts.emails()
    outbox = artefacts.outbox()
    webhooks = session.receiver.requests
    verified = sum(1 for r in webhooks if r["verified"])
    n.say(f"Artefacts in {out}:")
    n.table(
        ["artefact", "where"],
        [
            *[[f"email ({e.transition})", e.path.relative_to(out)] for e in emails],
            ["dry-run requests (Jira, ServiceNow)", _outbox_line(session, outbox)],
            ["webhook requests", f"webhook-requests.jsonl ({len(webhooks)}, {verified} signature(s) verified)"],
            ["audit log", f"{artefacts.audit_path.name} ({len(artefacts.audit())} record(s))"],
            ["compliance report", report],
            ["routing config", "routes.yml"],
            ["notifier state (SQLite)", "state.sqlite"],
            ["Lambda events (SQS batches)", "events/"],
            ["logs: notifier, Config rule", "lambda-output.log, config-rule.log"],
        ],
    )
    n.say(f"try: compliance-notifier explain {out / 'events'}/*.json --config {out / 'routes.yml'}")


def write_report(session: Session) -> str:
    """`compliance-notifier report` on the demo's state store, as of the demo's clock."""
    from ..report import run_report

    path = session.out / "compliance-report.html"
    said = io.StringIO()
    run_report(
        state_url=f"sqlite://{session.out / 'state.sqlite'}",
        output_format="html",
        output=str(path),
        since=None,
        now=session.clock().isoformat(),
        top=10,
        out=said,
        err=said,
    )
    last = said.getvalue().strip().splitlines()[-1:] or [""]
    return f"{path.name} ({last[0].split(': ', 1)[-1]})"


def _outbox_line(session: Session, outbox: list[dict[str, Any]]) -> str:
    requests = Counter(str(r.get("destination")) for r in outbox for _ in r.get("requests", []))
    detail = ", ".join(f"{d} {c}" for d, c in sorted(requests.items())) or "none"
    return f"{session.artefacts.outbox_path.name} ({detail})"
