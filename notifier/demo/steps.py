"""The steps both scenarios share, with their narration: Config evaluates and publishes, the queue is
drained through the handler, and what each notification did is told from the artefacts it left."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import Any, NamedTuple

from ..state.base import HistoryEntry
from .artefacts import SavedEmail, actions_by_destination, outbox_requests
from .config_rule import RULE_NAME, Verdict
from .session import RULE_PARAMETERS, Session

COMPLIANCE_CHANGE = "ComplianceChangeNotification"
REMEDIATION = "fix-iam-users"  # the routes' lambda destination
VERDICTS_SHOWN = 6  # a storm's verdicts are summed up, not listed


def evaluate(
    session: Session, users: Collection[str] | None, *, status: str
) -> tuple[list[Verdict], list[dict[str, Any]]]:
    """Config records the users and runs the rule Lambda on each; returns the verdicts and the messages it
    will publish: the changes and, on a first run, the ConfigRulesEvaluationStarted the filter must drop."""
    n, config = session.narrator, session.config
    parameters = ", ".join(f"{k}={v}" for k, v in RULE_PARAMETERS.items())
    n.say(f"rule {RULE_NAME} ({parameters}): notifier.rules.standardized_iam_policies.lambda_handler")
    n.say("invoked with ConfigurationItemChangeNotification events built from the users' IAM state")
    verdicts = config.evaluate(users, status=status)
    for verdict in verdicts:
        session.users[verdict.resource_id] = verdict.user
    for verdict in verdicts[:VERDICTS_SHOWN]:
        n.say(f"  {verdict.user:12} {verdict.compliance:15} {verdict.annotation}")
    if len(verdicts) > VERDICTS_SHOWN:
        counts = Counter(v.compliance for v in verdicts)
        n.say(f"  ... {len(verdicts)} evaluations: " + ", ".join(f"{c} {k}" for k, c in sorted(counts.items())))
    n.say("PutEvaluations read off the rule's request (moto's Config takes them only in TestMode: token TESTMODE)")
    changes = [v.notification for v in verdicts if v.notification is not None]
    return verdicts, ([config.evaluation_started()] if users is None else []) + changes


def publish_and_consume(session: Session, messages: list[dict[str, Any]], *, wave: int = 0) -> int:
    """Config publishes to the topic; the event source mapping drains the queue through the handler.

    `wave`: publish that many at a time and drain in between, as Lambda polls while Config publishes (it
    also keeps moto's queue short: its ReceiveMessage scans every message, which a storm makes slow)."""
    n, intake = session.narrator, session.intake
    calls, handed, size = intake.invocations, 0, wave or max(len(messages), 1)
    for start in range(0, len(messages), size):
        session.config.publish(messages[start : start + size])
        handed += intake.drain(session.aws, session.account)
    kinds = Counter(m["messageType"] for m in messages)
    session.published.update({kind: session.published.get(kind, 0) + count for kind, count in kinds.items()})
    n.say("published to the Config topic: " + ", ".join(f"{c} {k}" for k, c in sorted(kinds.items())))
    n.say(
        f"SQS → notifier.handler.lambda_handler: {handed} record(s) in {intake.invocations - calls} "
        f"invocation(s) of ≤ 10; batchItemFailures: {len(intake.failures) or 'none'}"
    )
    others = {kind: count for kind, count in kinds.items() if kind != COMPLIANCE_CHANGE}
    wanted = kinds[COMPLIANCE_CHANGE]
    if others and handed == wanted:
        dropped = ", ".join(f"{c} {k}" for k, c in sorted(others.items()))
        n.say(f"the subscription's body filter dropped {dropped}: only compliance changes reach the queue")
        session.filtered += sum(others.values())
    elif handed != wanted:
        n.say(f"expected {wanted} compliance change(s) in the queue, got {handed}: the filter did not act as SNS does")
    return handed


class Outcomes(NamedTuple):
    """What one step left behind."""

    entries: list[HistoryEntry]  # the notifications the state store recorded
    emails: list[SavedEmail]
    webhooks: list[dict[str, Any]]
    outbox: list[dict[str, Any]]


def narrate_outcomes(session: Session, *, detail: bool) -> Outcomes:
    """What the notifier did with each new notification, then the emails, webhooks and dry-run requests."""
    n, artefacts = session.narrator, session.artefacts
    done = Outcomes(artefacts.new_history(), artefacts.new_emails(), artefacts.new_webhooks(), artefacts.new_outbox())
    if detail:
        for entry in done.entries:
            user = session.users.get(entry.key.resource_id, entry.key.resource_id)
            n.say(f"  {user:12} {entry.old.value} → {entry.new.value} ({entry.kind})")
            actions = " · ".join(f"{d} {a}" for d, a in entry.actions.items())
            n.say(f"  {'':12} {actions or 'no route matches: recorded in the state store only'}")
    elif done.entries:
        kinds = Counter(entry.kind for entry in done.entries)
        n.say(f"{len(done.entries)} notification(s): " + ", ".join(f"{c} {k}" for k, c in sorted(kinds.items())))
        for destination, counts in sorted(actions_by_destination(done.entries).items()):
            n.say(f"  {destination:20} " + ", ".join(f"{c} {a}" for a, c in sorted(counts.items())))
    for saved in done.emails:
        n.say(f"SES accepted an email → {saved.path.relative_to(session.out)}")
        n.say(f"  Subject: {saved.subject.strip()}")
    for request in done.webhooks:
        verdict = "signature verified" if request["verified"] else f"REFUSED: {request['problem']}"
        body = request["body"] if isinstance(request["body"], dict) else {}
        n.say(f"webhook receiver: {body.get('type', '?')} {request['headers'].get('webhook-id', '')}, {verdict}")
    for record in done.outbox:
        what = f"dry-run outbox: {record.get('destination')} would {record.get('action')}"
        ticket = f" ({record['ticket']})" if record.get("ticket") else ""
        requests = outbox_requests(record)
        reads = [line for line in requests if line.startswith("GET ")]
        shown = f", {len(reads)} GET not shown" if reads else ""
        n.say(f"{what}{ticket}: {len(requests)} request(s){shown}")
        for line in requests:
            if line not in reads:
                n.say(f"  {line}")
    guard = Counter(entry.actions[REMEDIATION] for entry in done.entries if REMEDIATION in entry.actions)
    if guard:
        decisions = ", ".join(f"{c} {a}" for a, c in sorted(guard.items()))
        n.say(f"remediation guard ({REMEDIATION}, mode dry-run): {decisions}; nothing is invoked in dry-run")
    return done
