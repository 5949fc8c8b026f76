"""The AWS Security Blog's scenario ("How to Record and Govern Your IAM Resource Configurations Using AWS
Config"): three IAM users, the standardized-IAM-policy rule, a violation, its fix.

    admin         AdministratorAccess                          in the exception list: NOT_APPLICABLE
    teststadion   MyIAMUserPolicy                              COMPLIANT
    DBSuperUser   DatabaseAdminPolicy, DBBackupOperatorPolicy  NON_COMPLIANT → fixed → COMPLIANT
"""

from __future__ import annotations

from .aws import create_policy, create_user
from .session import DESIRED_POLICY, Session
from .steps import evaluate, narrate_outcomes, publish_and_consume

ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"
EXTRA_POLICIES = ("DatabaseAdminPolicy", "DBBackupOperatorPolicy")
EXPECTED = {"admin": "NOT_APPLICABLE", "teststadion": "COMPLIANT", "DBSuperUser": "NON_COMPLIANT"}


def run_blog(session: Session) -> bool:
    """Steps 1 (the users) to 4; True when everything happened as the blog says it should."""
    n = session.narrator
    policies = {name: create_policy(session.aws, name) for name in (DESIRED_POLICY, *EXTRA_POLICIES)}
    users = {
        "admin": [ADMINISTRATOR_ACCESS],
        "teststadion": [policies[DESIRED_POLICY]],
        "DBSuperUser": [policies[name] for name in EXTRA_POLICIES],
    }
    for name, arns in users.items():
        create_user(session.aws, name, arns)
        n.say(f"IAM user {name:12} {', '.join(arn.rsplit('/', 1)[-1] for arn in arns)}")

    n.step(2, "AWS Config records the users and runs the rule Lambda on each")
    verdicts, messages = evaluate(session, None, status="ResourceDiscovered")
    first_run_right = {v.user: v.compliance for v in verdicts} == EXPECTED

    n.step(3, "Config publishes each compliance change; SQS hands them to the notifier's Lambda handler")
    publish_and_consume(session, messages)
    narrate_outcomes(session, detail=True)

    n.step(4, "DBSuperUser is fixed: extra policies detached, MyIAMUserPolicy attached; Config re-evaluates")
    iam = session.aws.client("iam")
    for name in EXTRA_POLICIES:
        iam.detach_user_policy(UserName="DBSuperUser", PolicyArn=policies[name])
    iam.attach_user_policy(UserName="DBSuperUser", PolicyArn=policies[DESIRED_POLICY])
    verdicts, messages = evaluate(session, {"DBSuperUser"}, status="OK")
    fixed = [v.compliance for v in verdicts] == ["COMPLIANT"]
    publish_and_consume(session, messages)
    resolved = narrate_outcomes(session, detail=True)
    return first_run_right and fixed and [entry.kind for entry in resolved.entries] == ["resolved"]
