"""The demo's routing config, written to <out>/routes.yml so it can be read, checked and reused.

One route sends IAM-user violations and their resolution everywhere a security team would want them; a
second one hands violations to the remediation Lambda, whose guard runs in `mode: dry-run` (it decides,
counts and logs, and invokes nothing: moto's Lambda cannot run Python code without Docker anyway). The
ticketing destinations are `dry_run: true` (there is no Jira or ServiceNow here): each records the exact
HTTP requests it would have sent in the file destination named by the top-level `dry_run_outbox`.
"""

from __future__ import annotations

from pathlib import Path

from ..routing.config import RoutingConfig, load_config
from .aws import ACCOUNT, REGION, SENDER

RECIPIENT = "platform-security@example.com"
OUTBOX_FILE = "dry-run-requests.jsonl"
AUDIT_FILE = "deliveries.jsonl"
# The secrets the config names, set in the demo's process only (the webhook's is made per run).
JIRA_TOKEN_VARIABLE = "DEMO_JIRA_API_TOKEN"
SERVICENOW_PASSWORD_VARIABLE = "DEMO_SERVICENOW_PASSWORD"
WEBHOOK_SECRET_VARIABLE = "DEMO_WEBHOOK_SECRET"

_TEMPLATE = """\
# compliance-notifier demo: the routing config (`compliance-notifier check-config {path}`).
# Secrets are references to environment variables the demo sets for itself; nothing here is real.
destinations:
  security-email:
    type: email
    via: ses
    region: {region}
    from: {sender}
    to: [{recipient}]
  security-jira:
    type: jira
    flavor: cloud
    url: https://example.atlassian.net
    email: compliance-bot@example.com
    token: env:{jira_token}
    project: SEC
    issue_type: Task
    labels: [aws-config]
    resolve_transition: Done
    dry_run: true               # no Jira here: the requests go to the dry-run outbox
  security-servicenow:
    type: servicenow
    url: https://example.service-now.com
    username: compliance-notifier
    password: env:{servicenow_password}
    category: security
    dry_run: true
  siem-webhook:
    type: webhook
    url: {webhook_url}
    secrets: [env:{webhook_secret}]
  fix-iam-users:
    type: lambda
    function: arn:aws:lambda:{region}:{account}:function:remediate-standardized-iam-policies
    mode: dry-run               # the guard decides and counts; nothing is invoked
    allow_rules: [standardized-iam-policies]
    allow_accounts: ["{account}"]
    max_per_hour: 10
  audit-log:
    type: file
    path: {audit}
  dry-run-outbox:
    type: file
    path: {outbox}
dry_run_outbox: dry-run-outbox   # where dry_run destinations record the requests they would have sent
routes:
  - name: iam-user-policy-violations
    match:
      rule: standardized-iam-policies*
      resource_type: AWS::IAM::User
      transition: [first_violation, violated, resolved, retired]
    destinations: [security-email, security-jira, security-servicenow, siem-webhook, audit-log]
    continue: true
{baseline}  - name: remediate-iam-users
    match:
      rule: standardized-iam-policies*
      resource_type: AWS::IAM::User
      transition: [first_violation, violated]
    destinations: [fix-iam-users]
"""

_NO_BASELINE = "    baseline: false             # three users, not a storm: each first violation goes out at once\n"


def write_routes(out: Path, *, webhook_url: str, baseline: bool) -> RoutingConfig:
    """Write the config to <out>/routes.yml and load it as the Lambda would (every check included)."""
    path = out / "routes.yml"
    text = _TEMPLATE.format(
        path=path, region=REGION, account=ACCOUNT, sender=SENDER, recipient=RECIPIENT,
        jira_token=JIRA_TOKEN_VARIABLE, servicenow_password=SERVICENOW_PASSWORD_VARIABLE, webhook_url=webhook_url,
        webhook_secret=WEBHOOK_SECRET_VARIABLE, audit=AUDIT_FILE, outbox=OUTBOX_FILE,
        baseline="" if baseline else _NO_BASELINE,
    )  # fmt: skip
    path.write_text(text, encoding="utf-8")
    return load_config(path)
