"""One demo run's moving parts, wired once: the embedded AWS and its account, the webhook receiver, the
routing config, the notifier's pipeline on a SQLite state file, Config's stand-in, and the intake.

The pipeline is the one `build_pipeline` makes for the Lambda, given a client factory pointed at the
embedded AWS and a clock the demo controls (the storm moves it past the digest window instead of waiting).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..pipeline import Pipeline
from ..routing.config import RoutingConfig, check_config
from .artefacts import Artefacts
from .aws import Account, EmbeddedAws, create_account, demo_environment, embedded_aws, subscription_filter
from .config_rule import ConfigService
from .intake import Intake
from .narrate import Narrator, output_to
from .receiver import WebhookReceiver, new_secret, webhook_receiver
from .routes import JIRA_TOKEN_VARIABLE, SERVICENOW_PASSWORD_VARIABLE, WEBHOOK_SECRET_VARIABLE, write_routes

DESIRED_POLICY = "MyIAMUserPolicy"
RULE_PARAMETERS = {"desiredPolicyName": DESIRED_POLICY, "exceptionList": "admin"}


class Clock:
    """Real time plus an offset the demo can move forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass
class Session:
    out: Path
    narrator: Narrator
    aws: EmbeddedAws
    account: Account
    receiver: WebhookReceiver
    routes: RoutingConfig
    pipeline: Pipeline
    clock: Clock
    config: ConfigService
    intake: Intake
    artefacts: Artefacts
    users: dict[str, str] = field(default_factory=dict)  # resource id (IAM user id) -> user name
    published: dict[str, int] = field(default_factory=dict)  # message type -> count sent to the topic
    filtered: int = 0  # messages the subscription's filter policy kept out of the queue


@contextmanager
def open_session(out: Path, narrator: Narrator, *, baseline: bool, managed_policies: bool) -> Iterator[Session]:
    """Everything up and narrated (step 1's infrastructure lines); torn down in reverse order."""
    from .. import handler
    from ..app import build_pipeline
    from ..state import SqliteState

    secret = new_secret()
    variables = {
        JIRA_TOKEN_VARIABLE: "demo-not-a-real-token",
        SERVICENOW_PASSWORD_VARIABLE: "demo-not-a-real-password",
        WEBHOOK_SECRET_VARIABLE: secret,
        # The dry-run ticket destinations keep their rehearsed ticket, so a later change resolves it (docs/dry-run.md).
        "NOTIFIER_DRY_RUN_UPDATES_STATE": "true",
        # moto loads AWS managed policies (AdministratorAccess) only when asked: it costs a second.
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true" if managed_policies else "false",
    }
    with ExitStack() as stack:
        stack.enter_context(demo_environment(variables))
        aws = stack.enter_context(embedded_aws())
        narrator.say(f"embedded AWS: moto server on {aws.endpoint} (dummy credentials, this process only)")
        account = create_account(aws)
        scope, policy = subscription_filter(aws, account)
        narrator.say(f"SNS topic {account.topic_arn}")
        narrator.say(f"SQS queue {account.queue_url.rsplit('/', 1)[-1]} subscribed with {scope} filter {policy}")
        receiver = stack.enter_context(webhook_receiver(out / "webhook-requests.jsonl", secret))
        narrator.say(f"webhook receiver on {receiver.url} (checks Standard Webhooks signatures)")
        routes = write_routes(out, webhook_url=receiver.url, baseline=baseline)
        check = check_config((out / "routes.yml").read_text(encoding="utf-8"), str(out / "routes.yml"), out)
        verdict = "OK" if not check.warnings else f"OK, {len(check.warnings)} warning(s): {check.warnings[0]}"
        narrator.say(f"routing config {out / 'routes.yml'} (check-config: {verdict})")
        narrator.say("Jira and ServiceNow are dry_run: their exact requests go to the dry-run outbox, and the")
        narrator.say("rehearsed tickets are kept (NOTIFIER_DRY_RUN_UPDATES_STATE=true), so a fix resolves them")
        state = SqliteState(out / "state.sqlite")
        stack.callback(state.close)
        clock = Clock()
        with output_to(out / "lambda-output.log"):  # the cold start's log lines, with the invocations' ones
            pipeline = build_pipeline(routes, state=state, client_factory=aws.client_factory)
        pipeline.clock = clock
        handler.set_pipeline(pipeline)
        stack.callback(handler.set_pipeline, None)
        narrator.say(f"notifier state: {out / 'state.sqlite'}")
        config = ConfigService(aws, account, RULE_PARAMETERS, out / "config-rule.log")
        stack.enter_context(config.rule_clients())
        yield Session(
            out=out,
            narrator=narrator,
            aws=aws,
            account=account,
            receiver=receiver,
            routes=routes,
            pipeline=pipeline,
            clock=clock,
            config=config,
            intake=Intake(out / "events", out / "lambda-output.log"),
            artefacts=Artefacts(out, aws, receiver, state),
        )
