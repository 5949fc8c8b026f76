"""AWS Config's part, played by the demo: record IAM users, run the real rule Lambda, publish what changed.

    IAM (embedded) ──► configuration item ──► rule lambda_handler ──► PutEvaluations ──► compliance changed?
    GetAccountAuthorization-   Config's IAM user     notifier.rules.          read off the wire   ComplianceChange-
    Details, one paged call    item shape            standardized_iam_...     (before-call hook)  Notification → SNS

* Items are built from IAM as it is, in the shape of Config's IAM user items (the fixtures in
  tests/events/config-rule/*iam-user*): attached, inline (URL-encoded, as Config stores them) and group
  policies; `ResourceDiscovered` for a new user, `OK` for a change.
* The rule is the real Lambda handler. Its boto3 clients reach the embedded AWS through AWS_ENDPOINT_URL.
* moto's Config accepts PutEvaluations only in TestMode, so the event carries the `TESTMODE` result token
  (as `rdk test-local` does) and the evaluations are read from the request the rule sent, at botocore's
  `before-call` event: what went on the wire, not what the rule returned.
* Like Config, a ComplianceChangeNotification is published only when a resource's compliance type changed;
  a first evaluation has no `oldEvaluationResult`. The subject line is Config's, cut to SNS's 100 characters.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .aws import ACCOUNT, REGION, Account, EmbeddedAws
from .narrate import output_to

RULE_NAME = "standardized-iam-policies"
RULE_ID = "config-rule-demo01"
RULE_ARN = f"arn:aws:config:{REGION}:{ACCOUNT}:config-rule/{RULE_ID}"
IAM_USER = "AWS::IAM::User"
TEST_MODE_TOKEN = "TESTMODE"
CONFIG_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
SUBJECT_LIMIT = 100  # SNS subjects are at most 100 characters; Config cuts its own with "..."
PUBLISH_BATCH = 10  # SNS PublishBatch takes at most 10 entries


@dataclass(frozen=True, slots=True)
class Verdict:
    """One user's evaluation as the rule put it, and what Config published for it (None: unchanged)."""

    user: str
    resource_id: str
    compliance: str
    annotation: str
    notification: dict[str, Any] | None


class ConfigService:
    def __init__(self, aws: EmbeddedAws, account: Account, parameters: dict[str, str], log: Path) -> None:
        self.aws = aws
        self.account = account
        self.parameters = parameters
        self.log = log
        self.published: list[dict[str, Any]] = []  # every message sent to the topic, in order
        self._results: dict[str, dict[str, Any]] = {}  # resource id -> the evaluation result Config holds
        self._put_requests: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def rule_clients(self) -> Iterator[None]:
        """The rule Lambda's own clients, made afresh on this server, with the PutEvaluations reader on."""
        from ..rules.evaluator import default_clients

        default_clients.cache_clear()  # a client made for another endpoint (an earlier demo) is gone
        config = default_clients().config
        config.meta.events.register("before-call.config-service.PutEvaluations", self._read_put, unique_id="demo")
        try:
            yield
        finally:
            config.meta.events.unregister("before-call.config-service.PutEvaluations", unique_id="demo")
            default_clients.cache_clear()

    def evaluate(self, users: Collection[str] | None = None, *, status: str = "OK") -> list[Verdict]:
        """Record each user (all when None) as a configuration item, invoke the rule for it, and keep the
        ComplianceChangeNotification Config would publish. Call inside `rule_clients()`."""
        from ..rules.standardized_iam_policies import lambda_handler

        verdicts = []
        for user, item in self._items(users, status):
            invoked_at = _now()
            self._put_requests.clear()
            with output_to(self.log):
                lambda_handler(self._invoking_event(item), None)
            for entry in (e for request in self._put_requests for e in request.get("Evaluations", [])):
                verdicts.append(self._record(user, entry, invoked_at))
        return verdicts

    def publish(self, messages: list[dict[str, Any]]) -> None:
        """Send Config's messages to the topic (PublishBatch: the same SNS envelope as Publish, fewer calls)."""
        sns = self.aws.client("sns")
        for start in range(0, len(messages), PUBLISH_BATCH):
            chunk = messages[start : start + PUBLISH_BATCH]
            entries = [
                {"Id": str(index), "Message": json.dumps(message), "Subject": _subject(message)}
                for index, message in enumerate(chunk)
            ]
            answer = sns.publish_batch(TopicArn=self.account.topic_arn, PublishBatchRequestEntries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SNS refused {len(answer['Failed'])} message(s): {answer['Failed'][0]}")
            self.published.extend(chunk)

    @staticmethod
    def evaluation_started() -> dict[str, Any]:
        """The message Config sends when rule evaluations begin: not a compliance change, so filtered out."""
        return {
            "awsAccountId": ACCOUNT,
            "awsRegion": REGION,
            "configRuleNames": [RULE_NAME],
            "notificationCreationTime": _iso(_now()),
            "messageType": "ConfigRulesEvaluationStarted",
            "recordVersion": "1.0",
        }

    def _items(self, users: Collection[str] | None, status: str) -> Iterator[tuple[str, dict[str, Any]]]:
        iam = self.aws.client("iam")
        details = [
            user
            for page in iam.get_paginator("get_account_authorization_details").paginate(Filter=["User"])
            for user in page["UserDetailList"]
        ]
        # Customer managed policies are the item's relationships, by id (moto's authorization details lack it).
        policy_ids = {
            policy["Arn"]: policy["PolicyId"]
            for page in iam.get_paginator("list_policies").paginate(Scope="Local")
            for policy in page["Policies"]
        }
        for user in details:
            if users is None or user["UserName"] in users:
                yield user["UserName"], _user_item(user, policy_ids, status, _now())

    def _invoking_event(self, item: dict[str, Any]) -> dict[str, Any]:
        invoking = {
            "configurationItemDiff": None,
            "configurationItem": item,
            "notificationCreationTime": _iso(_now()),
            "messageType": "ConfigurationItemChangeNotification",
            "recordVersion": "1.3",
        }
        return {
            "version": "1.0",
            "invokingEvent": json.dumps(invoking),
            "ruleParameters": json.dumps(self.parameters),
            "resultToken": TEST_MODE_TOKEN,
            "eventLeftScope": False,
            "executionRoleArn": CONFIG_ROLE_ARN,
            "configRuleArn": RULE_ARN,
            "configRuleName": RULE_NAME,
            "configRuleId": RULE_ID,
            "accountId": ACCOUNT,
            "evaluationMode": "DETECTIVE",
        }

    def _read_put(self, params: dict[str, Any], **_: Any) -> None:
        self._put_requests.append(json.loads(params["body"] or b"{}"))  # returning None lets the call go on

    def _record(self, user: str, entry: dict[str, Any], invoked_at: datetime) -> Verdict:
        resource_id, compliance = entry["ComplianceResourceId"], entry["ComplianceType"]
        annotation = entry.get("Annotation") or ""
        old = self._results.get(resource_id)
        if old is not None and old["complianceType"] == compliance:
            return Verdict(user, resource_id, compliance, annotation, None)  # Config publishes changes only
        recorded_at = _now()
        new = {
            "evaluationResultIdentifier": {
                "evaluationResultQualifier": {
                    "configRuleName": RULE_NAME,
                    "resourceType": entry["ComplianceResourceType"],
                    "resourceId": resource_id,
                },
                "orderingTimestamp": _iso(_timestamp(entry["OrderingTimestamp"])),
            },
            "complianceType": compliance,
            "resultRecordedTime": _iso(recorded_at),
            "configRuleInvokedTime": _iso(invoked_at),
            "annotation": annotation or None,
            "resultToken": None,
        }
        message: dict[str, Any] = {
            "awsAccountId": ACCOUNT,
            "configRuleName": RULE_NAME,
            "configRuleARN": RULE_ARN,
            "resourceType": entry["ComplianceResourceType"],
            "resourceId": resource_id,
            "awsRegion": REGION,
            "newEvaluationResult": new,
        }
        if old is not None:  # a first evaluation has no oldEvaluationResult at all
            message["oldEvaluationResult"] = old
        message.update(
            notificationCreationTime=_iso(_now()), messageType="ComplianceChangeNotification", recordVersion="1.0"
        )
        self._results[resource_id] = new
        return Verdict(user, resource_id, compliance, annotation, message)


def _user_item(user: dict[str, Any], policy_ids: dict[str, str], status: str, captured: datetime) -> dict[str, Any]:
    attached = [{"policyName": p["PolicyName"], "policyArn": p["PolicyArn"]} for p in user["AttachedManagedPolicies"]]
    created = _iso(user["CreateDate"])
    configuration = {
        "path": user["Path"],
        "userName": user["UserName"],
        "userId": user["UserId"],
        "arn": user["Arn"],
        "createDate": created,
        "userPolicyList": [
            {"policyName": p["PolicyName"], "policyDocument": _url_encoded(p["PolicyDocument"])}
            for p in user.get("UserPolicyList", [])
        ],
        "groupList": list(user.get("GroupList", [])),
        "attachedManagedPolicies": attached,
        "permissionsBoundary": None,
        "tags": [],
    }
    relationships = [
        {"resourceId": policy_ids[p["policyArn"]], "resourceName": p["policyName"], "resourceType": "AWS::IAM::Policy",
         "name": "Is attached to CustomerManagedPolicy"}
        for p in attached if p["policyArn"] in policy_ids
    ]  # fmt: skip
    return {
        "relatedEvents": [],
        "relationships": relationships,
        "configuration": configuration,
        "supplementaryConfiguration": {},
        "tags": {},
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": _iso(captured),
        "configurationStateId": int(captured.timestamp() * 1000),
        "awsAccountId": ACCOUNT,
        "configurationItemStatus": status,
        "resourceType": IAM_USER,
        "resourceId": user["UserId"],
        "resourceName": user["UserName"],
        "ARN": user["Arn"],
        "awsRegion": "global",  # IAM is global: Config records its items with this region
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": "",
        "resourceCreationTime": created,
    }


def _url_encoded(document: Any) -> str:
    """Config stores IAM policy documents URL-encoded; IAM answers JSON (an object once boto3 parsed it)."""
    text = document if isinstance(document, str) else json.dumps(document)
    return quote(text, safe="") if text.lstrip().startswith("{") else text


def _subject(message: dict[str, Any]) -> str:
    if message["messageType"] != "ComplianceChangeNotification":
        return f"[AWS Config:{REGION}] Config Rules Evaluation Started for Account {ACCOUNT}"
    verdict = message["newEvaluationResult"]["complianceType"]
    subject = (
        f"[AWS Config:{REGION}] {message['resourceType']} {message['resourceId']} is {verdict} with "
        f"{message['configRuleName']} in Account {ACCOUNT}"
    )
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 3] + "..."


def _timestamp(value: Any) -> datetime:
    if isinstance(value, int | float):  # the JSON protocol sends timestamps as epoch seconds
        return datetime.fromtimestamp(value, UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
