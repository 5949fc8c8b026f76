"""`compliance-notifier serve` end to end: the real waitress server on 127.0.0.1 (ephemeral port),
requests as the client, the AWS doc's HTTP deliveries carrying real Config messages, signed here with a
local key (tests/sns_signing_support.py), deliveries into `file` destinations, confirmations to a local
HTTP server, and every log line checked for secrets."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from notifier.sns_http.errors import CertificateUnavailable
from notifier.sns_http.subscriber import MAX_BODY_BYTES, HttpRequest
from tests.conftest import compliance_message
from tests.sns_signing_support import (
    CERT_URL,
    CONFIG,
    CONFIRMATION_FIXTURE,
    NOTIFICATION_SIGNED,
    OTHER_TOPIC,
    TOPIC,
    UNSUBSCRIBE_FIXTURE,
    Served,
    StandInCertificateHost,
    bare_subscriber,
    fixture,
    notification,
    serving,
    sign,
    signed_change,
    sns_headers,
)


@pytest.fixture
def served(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Served]:
    with serving(tmp_path, httpserver) as running:
        yield running


# --- notifications ---


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_notification_is_delivered_then_answered_200(served: Served, version: str) -> None:
    message = sign(notification(compliance_message()), version=version)

    answer = served.post(message)

    assert (answer.status_code, answer.json()) == (200, {"status": "routed", "message_id": message["MessageId"]})
    [line] = served.lines("audit")
    assert line["message_id"] == message["MessageId"] and line["routes"] == ["every-change"]
    assert line["transition"]["kind"] == "resolved" and line["notification"]["resource_type"] == "AWS::::Account"
    assert len(served.lines("archive")) == 1


def test_with_and_without_a_subject_both_are_delivered(served: Served) -> None:
    with_subject = signed_change("ComplianceChangeNotification__01_", MessageId="m-with-subject")
    without = notification(compliance_message("ComplianceChangeNotification__02_"), MessageId="m-without-subject")
    del without["Subject"]

    assert served.post(with_subject).status_code == 200
    assert served.post(sign(without)).status_code == 200
    assert [line["message_id"] for line in served.lines("audit")] == ["m-with-subject", "m-without-subject"]


def test_application_json_is_accepted_as_well(served: Served) -> None:
    message = signed_change()
    assert served.post(message, headers={"Content-Type": "application/json"}).status_code == 200


def test_the_same_message_twice_is_delivered_once(served: Served) -> None:
    message = signed_change()
    assert served.post(message).json()["status"] == "routed"
    assert served.post(message).json()["status"] == "duplicate"
    assert len(served.lines("audit")) == 1


def test_a_non_compliance_message_is_skipped_and_an_invalid_one_kept_with_its_reason(served: Served) -> None:
    skipped = signed_change("ConfigurationItemChangeNotification__02_")
    broken = compliance_message()
    del broken["newEvaluationResult"]
    invalid = sign(notification(broken, MessageId="m-invalid"))

    for message, status in ((skipped, "skipped"), (invalid, "invalid")):
        answer = served.post(message)
        assert (answer.status_code, answer.json()["status"]) == (200, status)
    assert served.lines("audit") == []
    [kept] = served.lines("invalid")
    assert kept["message_id"] == "m-invalid" and "newEvaluationResult" in kept["error"]


def test_a_failed_delivery_is_a_500_and_the_retry_delivers_everything_exactly_once(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # the archive's parent is a file: appending fails (ENOTDIR)
    with serving(tmp_path, httpserver, archive=blocker / "archive.jsonl") as served:
        message = signed_change()

        first = served.post(message)
        assert (first.status_code, first.json()["status"]) == (500, "failed")  # SNS retries 5xx
        assert len(served.lines("audit")) == 1  # what could go out went out

        blocker.unlink()
        second = served.post(message)  # SNS's retry: the very same message
        assert (second.status_code, second.json()["status"]) == (200, "routed")
        third = served.post(message)
        assert (third.status_code, third.json()["status"]) == (200, "duplicate")

        assert len(served.lines("audit")) == 1  # not sent again by the retry
        assert len([json.loads(x) for x in (blocker / "archive.jsonl").read_text().splitlines()]) == 1


def test_a_certificate_that_cannot_be_fetched_now_is_a_503_and_the_retry_goes_through(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    class FlakyHost(StandInCertificateHost):
        def __call__(self, url: str) -> bytes:
            if not self.fetched:
                self.fetched.append(url)
                raise CertificateUnavailable("the certificate host answered HTTP 503")
            return super().__call__(url)

    with serving(tmp_path, httpserver, certificate_host=FlakyHost()) as served:
        message = signed_change()
        assert served.post(message).status_code == 503
        assert served.post(message).status_code == 200
        assert len(served.lines("audit")) == 1


# --- confirmations ---


def test_a_subscription_confirmation_is_confirmed_by_a_get(served: Served, httpserver: HTTPServer) -> None:
    headers, body = fixture(CONFIRMATION_FIXTURE)  # the doc's request: TopicArn MyTopic in us-west-2
    query = {"Action": "ConfirmSubscription", "TopicArn": TOPIC, "Token": body["Token"]}
    httpserver.expect_oneshot_request("/", method="GET", query_string=query).respond_with_data("<ok/>")

    answer = served.post(sign(body, version="1"), headers=headers)

    assert (answer.status_code, answer.json()) == (200, {"status": "confirmed"})
    assert len(httpserver.log) == 1
    httpserver.check_assertions()


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.example.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
        "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + TOPIC,
        "https://sns.us-west-2.amazonaws.com@evil.example.com/?Action=ConfirmSubscription",
        "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&TopicArn=" + TOPIC,
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + OTHER_TOPIC,
    ],
)
def test_a_subscribe_url_off_the_sns_host_of_the_topic_is_never_visited(
    served: Served, httpserver: HTTPServer, subscribe_url: str
) -> None:
    headers, body = fixture(CONFIRMATION_FIXTURE)
    assert served.post(sign({**body, "SubscribeURL": subscribe_url}), headers=headers).status_code == 403
    assert httpserver.log == []


def test_a_confirmation_for_a_topic_not_allowed_is_refused_unvisited(served: Served, httpserver: HTTPServer) -> None:
    _, body = fixture(CONFIRMATION_FIXTURE)
    stranger = "arn:aws:sns:us-west-2:123456789012:NotOurs"
    message = sign({**body, "TopicArn": stranger, "SubscribeURL": body["SubscribeURL"].replace(TOPIC, stranger)})
    assert served.post(message).status_code == 403
    assert httpserver.log == [] and served.certificate_host.fetched == []


def test_an_unsubscribe_confirmation_is_verified_logged_and_not_acted_on(
    served: Served, httpserver: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    headers, body = fixture(UNSUBSCRIBE_FIXTURE)
    answer = served.post(sign(body), headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"status": "ignored"})
    assert httpserver.log == []
    assert "unsubscribe confirmation received" in capsys.readouterr().err


# --- refusals ---


def test_a_forged_signature_is_refused_and_nothing_delivered(served: Served) -> None:
    message = signed_change()
    forged = {**message, "Signature": base64.b64encode(b"\x00" * 256).decode()}
    answer = served.post(forged)
    assert (answer.status_code, answer.json()) == (403, {"error": "message refused"})
    assert served.lines("audit") == []


@pytest.mark.parametrize("field", NOTIFICATION_SIGNED)
def test_a_notification_with_any_signed_field_changed_is_refused(served: Served, field: str) -> None:
    message = signed_change()
    changed = {
        "Message": json.dumps({**compliance_message(), "resourceId": "999999999999"}),
        "MessageId": "another-id",
        "Subject": "another subject",
        "Timestamp": "2030-01-01T00:00:00.000Z",
        "TopicArn": OTHER_TOPIC,  # allowed too, and the headers agree: only the signature catches it
        "Type": "SubscriptionConfirmation",
    }[field]
    tampered = {**message, field: changed}
    assert served.post(tampered).status_code == 403
    assert served.lines("audit") == []


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://sns.evil.com/x.pem",
        "https://sns.us-west-2.amazonaws.com.evil.com/x.pem",
        "http://sns.us-west-2.amazonaws.com/x.pem",
        "https://sns.us-west-2.amazonaws.com@evil.com/x.pem",
        "https://sns.us-west-2.amazonaws.com:8443/x.pem",
        "https://sns.us-west-2.amazonaws.com:443/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem",
    ],
)
def test_a_certificate_url_off_the_sns_host_is_refused_before_any_fetch(served: Served, cert_url: str) -> None:
    served.certificate_host.pems[cert_url] = served.certificate_host.pems[CERT_URL]  # it would even verify
    message = sign(notification(compliance_message()), cert_url=cert_url)
    assert served.post(message).status_code == 403
    assert served.certificate_host.fetched == [] and served.lines("audit") == []


def test_an_unknown_topic_is_refused_before_any_fetch(served: Served) -> None:
    message = signed_change(TopicArn="arn:aws:sns:us-west-2:123456789012:NotOurs")
    assert served.post(message).status_code == 403
    assert served.certificate_host.fetched == []


def test_a_topic_header_that_disagrees_with_the_body_is_refused(served: Served) -> None:
    message = signed_change()
    assert served.post(message, headers={**sns_headers(message), "x-amz-sns-topic-arn": OTHER_TOPIC}).status_code == 403


def test_an_oversized_body_is_a_413(served: Served) -> None:
    answer = served.session.post(served.url, data=b"{" + b" " * MAX_BODY_BYTES, headers={"Content-Type": "text/plain"})
    assert answer.status_code == 413


def test_a_body_over_the_limit_is_refused_without_reading_a_byte(tmp_path: Path) -> None:
    def never(_length: int) -> bytes:
        raise AssertionError("the body was read")

    app = bare_subscriber(tmp_path)
    for length, status in ((str(MAX_BODY_BYTES + 1), 413), (None, 411), ("12x", 400), ("\u00b2", 400)):
        headers = {"content-type": "text/plain; charset=UTF-8"} | ({"content-length": length} if length else {})
        assert app.handle(HttpRequest("POST", "/", headers, never)).status == status


def test_malformed_sns_documents_are_refused_with_a_4xx_never_a_500(tmp_path: Path) -> None:
    app = bare_subscriber(tmp_path)
    good = signed_change()
    documents = [
        {},
        {"Type": 5},
        {"Type": "Notification"},
        {**good, "TopicArn": ["not", "hashable"]},
        {**good, "TopicArn": None},
        {**good, "Signature": "YQ=="},
        {**good, "SigningCertURL": None},
        {**good, "SignatureVersion": 2},
        {**good, "Message": {"as": "an object"}},
        {**good, "Subject": 7},
        {"Type": "SubscriptionConfirmation", "TopicArn": TOPIC},
    ]
    for document in documents:
        body = json.dumps(document).encode()
        headers = {"content-type": "text/plain", "content-length": str(len(body))}

        def read(length: int, body: bytes = body) -> bytes:
            return body[:length]

        assert app.handle(HttpRequest("POST", "/", headers, read)).status == 403, document


WRONG_METHODS = [
    ("GET", "/", "POST"),
    ("PUT", "/", "POST"),
    ("DELETE", "/sns", "POST"),
    ("POST", "/healthz", "GET, HEAD"),
]


@pytest.mark.parametrize(("method", "path", "allow"), WRONG_METHODS)
def test_a_wrong_method_is_a_405_saying_what_is_allowed(served: Served, method: str, path: str, allow: str) -> None:
    answer = served.session.request(method, served.url.rstrip("/") + path, data=b"{}", timeout=10)
    assert (answer.status_code, answer.headers["Allow"]) == (405, allow)


@pytest.mark.parametrize("content_type", [None, "application/xml", "text/html", "text/plain; charset=ISO-8859-1"])
def test_a_wrong_content_type_is_a_415(served: Served, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert served.session.post(served.url, data=json.dumps(signed_change()), headers=headers).status_code == 415


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_not_a_json_object_is_a_400(served: Served, body: bytes) -> None:
    assert served.session.post(served.url, data=body, headers={"Content-Type": "text/plain"}).status_code == 400


def test_health_answers_200_with_a_small_json(served: Served) -> None:
    answer = served.session.get(served.url + "healthz", timeout=10)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok", "service": "compliance-notifier"})
    assert answer.headers["Content-Type"] == "application/json"


# --- logs ---

WEBHOOK_CONFIG = """
destinations:
  hook:
    type: webhook
    url: {url}
    secrets: [env:SERVE_WEBHOOK_SECRET]
    headers: {{X-Api-Key: env:SERVE_API_KEY}}
routes:
  - name: every-change
    match: {{rule: "*"}}
    destinations: [hook]
"""


def echo_and_refuse(request: Request) -> Response:
    """A careless receiver: a 400 (permanent, so no retry wait) that echoes our headers back."""
    return Response(
        json.dumps({"error": "nope", "headers": dict(request.headers)}), 400, content_type="application/json"
    )


def test_no_secret_reaches_the_logs_while_the_webhook_fails(
    tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    secret = "whsec_" + base64.b64encode(b"serve-signing-key-0123456789abcd").decode()
    api_key = "api-Key-Serve-7Qx9"
    monkeypatch.setenv("SERVE_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("SERVE_API_KEY", api_key)
    caplog.set_level("DEBUG")
    httpserver.expect_request("/hook", method="POST").respond_with_handler(echo_and_refuse)
    config = WEBHOOK_CONFIG.format(url=httpserver.url_for("/hook"))
    message = signed_change()

    with serving(tmp_path, httpserver, config=config) as served:
        answer = served.post(message)
        raw = base64.b64decode(message["Signature"])
        refused = served.post({**message, "Signature": base64.b64encode(raw[::-1]).decode()})

    assert (answer.status_code, refused.status_code) == (500, 403)
    assert len(httpserver.log) == 1  # the webhook really was called, with both secrets in use
    captured = capsys.readouterr()
    ours = "\n".join(caplog.handler.format(r) for r in caplog.records if not r.name.startswith("werkzeug"))
    everything = "\n".join([ours, captured.out, captured.err])
    for form in (secret, secret.removeprefix("whsec_"), api_key):
        assert form not in everything
    logged = [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]
    answered = [entry for entry in logged if entry.get("message") == "sns notification"]
    assert [(e["message_id"], e["topic"], e["outcome"], e["http_status"]) for e in answered] == [
        (message["MessageId"], TOPIC, "routed", 500)
    ]
    [refusal] = [entry for entry in logged if entry.get("message") == "sns message refused"]
    assert (
        refusal["reason"] == "the signature does not match the message"
        and refusal["message_id"] == message["MessageId"]
    )
    assert "awsAccountId" not in everything  # the Config message itself is never logged raw


# --- the command ---


def test_the_serve_command_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "routes.yml"
    config.write_text(CONFIG.format(out=tmp_path / "out", archive=tmp_path / "out" / "archive.jsonl"))
    command = [sys.executable, "-m", "notifier.cli", "serve", "--config", str(config), "--port", "0",
               "--state", f"sqlite:///{tmp_path / 'state.sqlite'}", "--topic-arn", TOPIC, "--threads", "2"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:  # the startup line says where it listens (port 0: any free port)
            if line.startswith("{") and json.loads(line).get("message") == "serving SNS deliveries":
                url = json.loads(line)["url"]
                break
        assert url is not None, "the server did not start"
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        unsigned = notification(compliance_message())
        assert (
            requests.post(url, data=json.dumps(unsigned), headers=sns_headers(unsigned), timeout=10).status_code == 403
        )
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_serve_command_needs_an_allowed_topic_and_a_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    from notifier.cli import main

    monkeypatch.delenv("NOTIFIER_SNS_TOPICS", raising=False)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    assert main(["serve", "--port", "0"]) == 2
    assert "--topic-arn" in capsys.readouterr().err
    assert main(["serve", "--topic-arn", "arn:aws:sqs:us-west-2:123456789012:q"]) == 2
    assert "not an SNS topic ARN" in capsys.readouterr().err
    monkeypatch.setenv("NOTIFIER_SNS_TOPICS", f"{TOPIC}, {OTHER_TOPIC}")
    assert main(["serve"]) == 2
    assert "--config FILE or NOTIFIER_CONFIG" in capsys.readouterr().err
