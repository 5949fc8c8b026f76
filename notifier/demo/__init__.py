"""`compliance-notifier demo`: the whole system, offline, on an embedded AWS (docs/demo.md).

    moto server (127.0.0.1, any port)                                  the notifier
    IAM users ──► Config (the demo) ──► SNS topic ──filter──► SQS ──► handler.lambda_handler ──► SES, Jira*,
                  runs the real rule        (MessageBody:           (batches,           ServiceNow*, webhook,
                  Lambda, publishes         compliance              batchItemFailures)  remediation*, file
                  what changed              changes only)                               (* dry-run)

Scenarios: `blog` (the AWS Security Blog's three users, a violation and its fix) and `storm` (a rule
deployment over N users, held by baseline and sent as one digest per destination). With `keep`, the
embedded AWS stays up after the summary until Ctrl-C, for the AWS CLI.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from .narrate import Narrator
from .session import Session, open_session
from .storm import DEFAULT_SIZE

SCENARIOS = ("blog", "storm")
_OUTPUTS = ("deliveries.jsonl", "dry-run-requests.jsonl", "webhook-requests.jsonl", "state.sqlite",
            "lambda-output.log", "config-rule.log", "compliance-report.html", "routes.yml")  # fmt: skip


def run_demo(out: Path, *, scenario: str = "blog", size: int = DEFAULT_SIZE, keep: bool = False) -> int:
    from .blog import run_blog
    from .storm import run_storm
    from .summary import summarize

    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    out = out.resolve()
    _clean(out)
    narrator = Narrator(steps=5)
    narrator.title(f"compliance-notifier demo ({scenario}): the whole system offline, on an embedded AWS")
    account_title = "The blog's account" if scenario == "blog" else f"An account with {size} legacy IAM users"
    narrator.step(1, f"{account_title}, on an embedded AWS")
    digests = None
    with open_session(out, narrator, baseline=scenario == "storm", managed_policies=scenario == "blog") as session:
        if scenario == "blog":
            ok = run_blog(session)
        else:
            ok, digests = run_storm(session, size)
        narrator.step(5, "Summary")
        summarize(session, digests)
        narrator.finish()
        timings = ", ".join(f"{index} {seconds:.1f}s" for index, (_, seconds) in enumerate(narrator.timings, 1))
        narrator.say(
            f"done in {narrator.elapsed():.1f}s (steps: {timings}): {'as expected' if ok else 'NOT as expected'}"
        )
        if keep:
            _keep_running(session)
    return 0 if ok else 1


def _keep_running(session: Session) -> None:
    """Leave the embedded AWS up for the AWS CLI until Ctrl-C (SIGINT), then stop cleanly."""
    n, endpoint = session.narrator, session.aws.endpoint
    n.say()
    n.say("The embedded AWS keeps running. In another shell:")
    n.say(f"export AWS_ENDPOINT_URL={endpoint}")
    n.say("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1")
    n.say("aws sns list-topics")
    n.say("aws iam list-users")
    n.say(f"aws sns publish --topic-arn {session.account.topic_arn} --message file://{session.out / 'routes.yml'}")
    n.say(f"aws sqs receive-message --queue-url {session.account.queue_url}   # the demo drained it: publish first")
    n.say("Press Ctrl-C to stop.")
    if threading.current_thread() is threading.main_thread():
        # A shell starts background jobs with SIGINT ignored, and a child inherits that: take it back.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        n.say("stopping the embedded AWS")


def _clean(out: Path) -> None:
    """Start from a clean slate, so what the demo lists is what this run did."""
    out.mkdir(parents=True, exist_ok=True)
    for name in _OUTPUTS:
        (out / name).unlink(missing_ok=True)
    for pattern in ("events/*.json", "emails/*.eml"):
        for stale in out.glob(pattern):
            stale.unlink()


__all__ = ["DEFAULT_SIZE", "SCENARIOS", "run_demo"]
