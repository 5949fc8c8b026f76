"""`compliance-notifier demo`: the blog's IAM scenario, offline, through the real pipeline.

An in-process moto plays AWS (IAM and SES). The standardized-IAM-policy rule evaluates three users —
`admin` (excepted), `teststadion` (only MyIAMUserPolicy: compliant) and `DBSuperUser` (two other
managed policies: non-compliant) — and each verdict that changed becomes a ComplianceChangeNotification
shaped exactly as AWS Config publishes it, delivered to the real Lambda handler as an SNS event. Then
DBSuperUser is fixed and re-evaluated, and the "resolved" email follows.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .rules.standardized_iam_policies import evaluate_user_policies
from .transition import Compliance

ACCOUNT = "123456789012"
REGION = "us-east-1"
RULE = "standardized-iam-policies"
DESIRED = "MyIAMUserPolicy"
EXCEPTIONS = ("admin",)
SENDER = "config-alerts@example.com"
RECIPIENT = "platform-security@example.com"

ROUTES = """\
# The demo's routing config: IAM user violations and their resolution go to the security team's
# mailbox (SES) and to an audit file. Try: compliance-notifier check-config {path}
destinations:
  security-email:
    type: email
    via: ses
    region: {region}
    from: {sender}
    to: [{recipient}]
  audit-log:
    type: file
    path: {audit}
routes:
  - name: iam-user-policy-violations
    match:
      rule: standardized-iam-policies*
      resource_type: AWS::IAM::User
      transition: [first_violation, violated, resolved, retired]
    destinations: [security-email, audit-log]
    baseline: false   # three users, not a storm: each first violation goes out at once
"""


def run_demo(out: Path) -> int:
    from moto import mock_aws

    out.mkdir(parents=True, exist_ok=True)
    # Start from a clean slate, so what the demo prints is what this run did.
    leftovers = [out / n for n in ("deliveries.jsonl", "state.sqlite", "lambda-output.log")]
    for stale in [*leftovers, *out.glob("events/*.json")]:
        stale.unlink(missing_ok=True)
    with _fake_credentials(), mock_aws():
        return _scenario(out.resolve())


def _scenario(out: Path) -> int:
    import boto3

    from . import handler
    from .app import build_pipeline
    from .routing.config import load_config
    from .state import SqliteState

    iam = boto3.client("iam", region_name=REGION)
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity=SENDER)  # SES only sends from verified identities

    _step("1. The blog's account: three IAM users")
    policies = {name: _create_policy(iam, name) for name in (DESIRED, "DatabaseAdminPolicy", "DBBackupOperatorPolicy")}
    _create_user(iam, "admin", ["arn:aws:iam::aws:policy/AdministratorAccess"])
    _create_user(iam, "teststadion", [policies[DESIRED]])
    _create_user(iam, "DBSuperUser", [policies["DatabaseAdminPolicy"], policies["DBBackupOperatorPolicy"]])

    routes_file = out / "routes.yml"
    routes_file.write_text(
        ROUTES.format(
            path=routes_file, region=REGION, sender=SENDER, recipient=RECIPIENT, audit=out / "deliveries.jsonl"
        )
    )
    state = SqliteState(out / "state.sqlite")
    handler.set_pipeline(build_pipeline(load_config(routes_file), state=state))
    previous: dict[str, dict[str, Any]] = {}
    try:
        _step("2. The standardized-iam-policies rule evaluates them; Config publishes what changed")
        _evaluate_and_notify(iam, previous, out)

        _step("3. DBSuperUser is fixed: the extra policies are detached, MyIAMUserPolicy attached")
        for arn in (policies["DatabaseAdminPolicy"], policies["DBBackupOperatorPolicy"]):
            iam.detach_user_policy(UserName="DBSuperUser", PolicyArn=arn)
        iam.attach_user_policy(UserName="DBSuperUser", PolicyArn=policies[DESIRED])
        _evaluate_and_notify(iam, previous, out)
    finally:
        handler.set_pipeline(None)
        state.close()

    _step("4. What was delivered")
    emails = _save_emails(out)
    audit = out / "deliveries.jsonl"
    lines = audit.read_text().splitlines() if audit.exists() else []
    print(f"   {len(emails)} email(s) accepted by SES, saved as .eml:")
    for path in emails:
        subject = next((line for line in path.read_text().splitlines() if line.startswith("Subject:")), "")
        print(f"     {path}  {subject[:90]}")
    print(f"   {len(lines)} audit record(s) in {audit}")
    print(f"   the Lambda's structured logs and EMF metrics: {out / 'lambda-output.log'}")
    print(f"   routing config: {routes_file}")
    print(f"   try: compliance-notifier explain {out / 'events'}/*.json --config {routes_file}")
    return 0 if len(emails) == 2 and len(lines) == 2 else 1


def _evaluate_and_notify(iam: Any, previous: dict[str, dict[str, Any]], out: Path) -> None:
    from . import handler

    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        attached = [p["PolicyName"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]
        inline = iam.list_user_policies(UserName=name)["PolicyNames"]
        verdict, annotation = evaluate_user_policies(
            name, attached, inline, desired_policy=DESIRED, exceptions=EXCEPTIONS
        )
        result = _evaluation_result(user["UserId"], verdict, annotation)
        old = previous.get(name)
        print(f"   {name:12} {verdict.value:15} {annotation}")
        if old is not None and old["complianceType"] == verdict.value:
            continue  # Config publishes only when the verdict changes
        previous[name] = result
        event = _sns_event(_compliance_change(user["UserId"], result, old))
        _save_event(out, name, event)
        with _lambda_output_to(out / "lambda-output.log"):
            answer = handler.lambda_handler(event, None)
        change = f"{old['complianceType'] if old else 'NONE'} -> {verdict.value}"
        print(f"   {'':12} SNS notification {change}: handler answered {answer['statuses']}")


def _evaluation_result(user_id: str, verdict: Compliance, annotation: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "evaluationResultIdentifier": {
            "evaluationResultQualifier": {
                "configRuleName": RULE,
                "resourceType": "AWS::IAM::User",
                "resourceId": user_id,
            },
            "orderingTimestamp": now,
        },
        "complianceType": verdict.value,
        "resultRecordedTime": now,
        "configRuleInvokedTime": now,
        "annotation": annotation,
        "resultToken": None,
    }


def _compliance_change(user_id: str, new: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    message = {
        "awsAccountId": ACCOUNT,
        "configRuleName": RULE,
        "configRuleARN": f"arn:aws:config:{REGION}:{ACCOUNT}:config-rule/config-rule-demo01",
        "resourceType": "AWS::IAM::User",
        "resourceId": user_id,
        "awsRegion": REGION,
        "newEvaluationResult": new,
        "notificationCreationTime": new["resultRecordedTime"],
        "messageType": "ComplianceChangeNotification",
        "recordVersion": "1.0",
    }
    if old is not None:  # a first evaluation has no oldEvaluationResult at all
        message["oldEvaluationResult"] = old
    return message


def _sns_event(message: dict[str, Any]) -> dict[str, Any]:
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:config-topic"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": topic,
                    "Subject": None,
                    "Message": json.dumps(message),
                    "Timestamp": message["notificationCreationTime"],
                    "SignatureVersion": "1",
                    "Signature": "",
                    "SigningCertUrl": "",
                    "UnsubscribeUrl": "",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def _save_event(out: Path, user: str, event: dict[str, Any]) -> None:
    """Keep each event so the user can replay it through `explain`."""
    folder = out / "events"
    folder.mkdir(exist_ok=True)
    index = len(list(folder.glob("*.json"))) + 1
    (folder / f"{index:02d}-{user}.json").write_text(json.dumps(event, indent=2))


def _save_emails(out: Path) -> list[Path]:
    from moto.backends import get_backend

    folder = out / "emails"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    saved = []
    for index, message in enumerate(get_backend("ses")[ACCOUNT][REGION].sent_messages, start=1):
        path = folder / f"{index:02d}.eml"
        path.write_text(getattr(message, "raw_data", "") or str(message))
        saved.append(path)
    return saved


def _create_policy(iam: Any, name: str) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    arn: str = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    return arn


def _create_user(iam: Any, name: str, policy_arns: list[str]) -> None:
    iam.create_user(UserName=name)
    for arn in policy_arns:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    print(f"   {name:12} managed policies: {', '.join(arn.rsplit('/', 1)[-1] for arn in policy_arns)}")


def _step(title: str) -> None:
    print(f"\n== {title}")


@contextmanager
def _lambda_output_to(path: Path) -> Iterator[None]:
    """Send the handler's JSON logs (stderr) and EMF metrics (stdout) to a file, so the narration stays readable."""
    import contextlib

    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


@contextmanager
def _fake_credentials() -> Iterator[None]:
    """Never let the demo reach a real account, whatever the environment holds."""
    keys = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",  # so admin can carry the real AdministratorAccess ARN
    }
    saved = {key: os.environ.get(key) for key in [*keys, "AWS_PROFILE"]}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
