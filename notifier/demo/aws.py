"""The embedded AWS: moto's `ThreadedMotoServer` on 127.0.0.1 (any free port), and the demo account on it.

Everything the demo runs talks to it over HTTP like to AWS: the demo's own boto3 clients carry its
`endpoint_url`, and code that makes its own clients (the Config rule Lambda) finds it through
`AWS_ENDPOINT_URL`, which every boto3 client honours. The credentials are dummies set in this process
only, so nothing can reach a real account whatever the environment held before.

The server shares its state with this process (moto's backends are module-level), which is how the
demo reads back what SES accepted: the raw MIME of every email, from the SES backend.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import NotifierError

ACCOUNT = "123456789012"  # moto's account
REGION = "us-east-1"
TOPIC_NAME = "config-topic"
QUEUE_NAME = "compliance-notifier-intake"
DEAD_LETTER_QUEUE_NAME = "compliance-notifier-dead-letters"
SENDER = "config-alerts@example.com"
# The subscription deploy/resources/intake.yml makes: SNS filters on the message body, so Config's other
# message types never reach the queue.
FILTER_POLICY = {"messageType": ["ComplianceChangeNotification"]}

@contextmanager
def demo_environment(extra: Mapping[str, str]) -> Iterator[None]:
    """Dummy credentials (and the demo's secrets) for this process while the demo runs; the environment
    is restored as it was afterwards, whatever the demo set (patch.dict keeps a copy of all of it)."""
    from unittest.mock import patch

    with patch.dict(os.environ):
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "MOTO_IAM_LOAD_MANAGED_POLICIES"):
            os.environ.pop(name, None)
        os.environ.update(
            {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
             "AWS_REGION": REGION, **extra}
        )  # fmt: skip
        yield


class EmbeddedAws:
    """A running moto server and boto3 clients on it."""

    def __init__(self, server: Any) -> None:
        self._server = server
        host, port = server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)
        return self._clients[service]

    def client_factory(self, service: str, region: str | None) -> Any:
        """What `build_pipeline` asks for its destinations' clients (SES, Lambda)."""
        return self.client(service)

    def reset(self) -> None:
        """Empty every backend: the server shares moto's state with the whole process."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def sent_emails(self) -> list[str]:
        """The raw MIME of every email SES accepted, oldest first."""
        from moto.backends import get_backend

        return [getattr(message, "raw_data", "") for message in get_backend("ses")[ACCOUNT][REGION].sent_messages]

    def stop(self) -> None:
        self._server.stop()


@contextmanager
def embedded_aws() -> Iterator[EmbeddedAws]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:  # moto without its server extra (Flask): say what to install
        raise NotifierError(
            f"the demo's embedded AWS is moto's server, which needs moto[server] ({error}): "
            "pip install 'compliance-notifier[demo]'"
        ) from None

    access_log = logging.getLogger("werkzeug")  # one line per request would drown the narration
    level = access_log.level
    access_log.setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    aws = EmbeddedAws(server)
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint  # demo_environment restores the variable afterwards
    try:
        aws.reset()  # a second demo in one process starts from an empty account too
        yield aws
    finally:
        aws.stop()
        access_log.setLevel(level)


@dataclass(frozen=True, slots=True)
class Account:
    topic_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_url: str
    subscription_arn: str


def create_account(aws: EmbeddedAws) -> Account:
    """The Config topic, the notifier's intake queue (with its dead-letter queue) subscribed to it with the
    compliance-only body filter, and the SES identity the emails come from."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    aws.client("sesv2").create_email_identity(EmailIdentity=SENDER)  # SES sends only from verified identities
    topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    dead_letter_url = sqs.create_queue(QueueName=DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
    redrive = {"deadLetterTargetArn": _queue_arn(sqs, dead_letter_url), "maxReceiveCount": 5}
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME, Attributes={"VisibilityTimeout": "60", "RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    subscription_arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={
            "RawMessageDelivery": "false",  # keep SNS's envelope, as intake.yml does
            "FilterPolicyScope": "MessageBody",
            "FilterPolicy": json.dumps(FILTER_POLICY),
        },
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Account(topic_arn, queue_url, queue_arn, dead_letter_url, subscription_arn)


def subscription_filter(aws: EmbeddedAws, account: Account) -> tuple[str, str]:
    """The filter scope and policy as SNS reports them back (the proof it took them)."""
    attributes = aws.client("sns").get_subscription_attributes(SubscriptionArn=account.subscription_arn)["Attributes"]
    return attributes.get("FilterPolicyScope", "MessageAttributes"), attributes.get("FilterPolicy", "")


def create_policy(aws: EmbeddedAws, name: str) -> str:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    arn: str = aws.client("iam").create_policy(PolicyName=name, PolicyDocument=json.dumps(document))["Policy"]["Arn"]
    return arn


def create_user(aws: EmbeddedAws, name: str, policy_arns: list[str]) -> None:
    iam = aws.client("iam")
    iam.create_user(UserName=name)
    for arn in policy_arns:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)


def _queue_arn(sqs: Any, url: str) -> str:
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return arn


def create_users_in_backend(aws: EmbeddedAws, names: list[str]) -> str:
    """Many users at once, straight into moto's IAM backend: one CreateUser through its HTTP server costs
    10-30 ms, so a storm's worth would take longer than the rest of the demo. Through the API when this
    moto's internal API differs. Returns how they were made, for the narration; everything else reads
    them back through the API."""
    from moto.backends import get_backend

    try:
        backend = get_backend("iam")[ACCOUNT]["global"]
        backend.create_user(region_name=REGION, user_name=names[0], path="/", tags=[])
    except (TypeError, AttributeError, KeyError):
        for name in names:
            create_user(aws, name, [])
        return "made through the IAM API"
    for name in names[1:]:
        backend.create_user(region_name=REGION, user_name=name, path="/", tags=[])
    return "made in moto's IAM backend directly: as many CreateUser calls over HTTP would take 10 s or more"
