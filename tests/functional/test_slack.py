"""Slack incoming webhooks against a real HTTP server on 127.0.0.1: the Block Kit message as Slack's
reference describes it, mrkdwn escaping of everything from the notification, and Slack's answers."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.registry import BuildContext, build_destination
from notifier.destinations.slack import SlackDestination, slack_escape, truncate_mrkdwn, webhook_url_problem
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, NotifierError
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.routing.config import find_problems
from notifier.secrets import SecretResolver
from notifier.transition import Compliance, transition
from tests.conftest import compliance_message

HOOK_PATH = "/services/T0SECRET/B0SECRET/s3cr3tW3bh00kT0k3n"
EVIL = "<!channel> & <https://evil|click>"
EVIL_ESCAPED = "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;"

# Block Kit reference: block types, and the text limits the channel promises to respect.
KNOWN_BLOCKS = {"header", "section", "context", "actions", "divider", "image", "rich_text", "input", "file", "video"}
TEXT_TYPES = {"mrkdwn", "plain_text"}


def outgoing(
    old: Compliance = Compliance.COMPLIANT, new: Compliance = Compliance.NON_COMPLIANT, **changes: Any
) -> Outgoing:
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification) and parsed.old is not None
    annotation = changes.pop("annotation", parsed.new.annotation)
    notification = parsed._replace(
        new=parsed.new._replace(compliance=new, annotation=annotation),
        old=None if old is Compliance.NONE else parsed.old._replace(compliance=old),
        **changes,
    )
    return Outgoing(notification, transition(old, new), ("log-groups",), "msg-1")


@pytest.fixture
def slack(httpserver_ipv4: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver_ipv4
    httpserver_ipv4.check_handler_errors()


def build(url: str, *, templates: Path | None = None, **options: Any) -> SlackDestination:
    spec = DestinationSpec("sec-slack", "slack", {"webhook_url": "env:SLACK_URL", **options})
    context = BuildContext(Renderer(templates), SecretResolver(environ={"SLACK_URL": url}))
    destination = build_destination(spec, context)
    assert isinstance(destination, SlackDestination)
    return destination


def posted(server: HTTPServer, message: Outgoing) -> dict[str, Any]:
    server.expect_request(HOOK_PATH, method="POST").respond_with_data("ok", content_type="text/plain")
    assert build(server.url_for(HOOK_PATH)).send(message) is None
    [(request, _)] = server.log
    assert request.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = json.loads(request.get_data())
    return body


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [*message.get("blocks", []), *(b for a in message.get("attachments", []) for b in a.get("blocks", []))]


def texts_of(message: dict[str, Any]) -> list[str]:
    """Every text Slack shows: the fallback and every text object in every block."""
    found = [message["text"]]
    for block in blocks_of(message):
        objects = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
        found += [o["text"] for o in objects if isinstance(o, dict) and "text" in o]
    return found


def block_kit_problems(message: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(message.get("text"), str) or not message["text"]:
        problems.append("no text fallback")
    for attachment in message.get("attachments", []):
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", attachment.get("color", "")):
            problems.append(f"attachment colour {attachment.get('color')!r}")
    blocks = blocks_of(message)
    if not blocks or len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks")
    for block in blocks:
        kind = block.get("type")
        if kind not in KNOWN_BLOCKS:
            problems.append(f"unknown block type {kind!r}")
        text, fields = block.get("text"), block.get("fields", [])
        header_ok = isinstance(text, dict) and text.get("type") == "plain_text" and len(text["text"]) <= 150
        if kind == "header" and not header_ok:
            problems.append("header must be plain_text of at most 150 characters")
        if (kind == "section" and not (text or fields)) or len(fields) > 10:
            problems.append("a section needs text or at most 10 fields")
        limits = [(text, 3000)] + [(f, 2000) for f in fields] + [(e, 3000) for e in block.get("elements", [])]
        for item, limit in limits:
            if item is None:
                continue
            if item.get("type") not in TEXT_TYPES or not 1 <= len(item.get("text", "")) <= limit:
                problems.append(f"{kind}: text object {item.get('type')!r} of {len(item.get('text', ''))} characters")
    return problems


def test_posts_a_valid_block_kit_message(slack: HTTPServer) -> None:
    message = outgoing()
    body = posted(slack, message)

    assert block_kit_problems(body) == []
    n = message.notification
    shown = "\n".join(texts_of(body))
    for value in (n.rule, n.resource_id, n.resource_type, n.account, n.region, n.new.annotation):
        assert slack_escape(value) in shown
    assert f"<{slack_escape(message_links(message)['resource'])}|Open " in shown  # Slack link syntax
    assert body["attachments"][0]["color"] == "#D40E0D" and ":rotating_light:" in body["text"]


def message_links(message: Outgoing) -> dict[str, str]:
    from notifier.render import console_links

    n = message.notification
    return console_links(n.region, n.rule, n.resource_type, n.resource_id)


def test_everything_from_the_notification_is_escaped(slack: HTTPServer) -> None:
    body = posted(slack, outgoing(resource_id=EVIL, rule=f"rule {EVIL}", annotation=f"note {EVIL}"))

    texts = texts_of(body)
    assert block_kit_problems(body) == []
    assert all("<!channel>" not in t and "<https://evil" not in t for t in texts)
    assert EVIL_ESCAPED in body["text"]
    with_value = [t for t in texts if "channel" in t]
    assert len(with_value) >= 5 and all(EVIL_ESCAPED in t for t in with_value)  # text, section, rule, link, annotation


@pytest.mark.parametrize(
    ("old", "new", "colour", "emoji"),
    [
        (Compliance.NONE, Compliance.NON_COMPLIANT, "#D40E0D", ":rotating_light:"),
        (Compliance.NON_COMPLIANT, Compliance.COMPLIANT, "#2EB67D", ":white_check_mark:"),
        (Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE, "#8D8D8D", ":wastebasket:"),
        (Compliance.COMPLIANT, Compliance.INSUFFICIENT_DATA, "#ECB22E", ":grey_question:"),
    ],
)
def test_colour_and_emoji_follow_the_transition(
    slack: HTTPServer, old: Compliance, new: Compliance, colour: str, emoji: str
) -> None:
    body = posted(slack, outgoing(old, new))
    header = next(b for b in blocks_of(body) if b["type"] == "header")
    assert body["attachments"][0]["color"] == colour and header["text"]["text"].startswith(emoji)


def test_long_values_are_cut_to_slacks_limits_without_breaking_escapes(slack: HTTPServer) -> None:
    body = posted(slack, outgoing(resource_id="<&>" * 256, annotation="&" * 5000))
    assert block_kit_problems(body) == []
    for text in texts_of(body):
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text[-40:]


def test_truncation_keeps_entities_and_links_whole() -> None:
    assert truncate_mrkdwn("abc &amp; def", 8) == "abc …"
    assert truncate_mrkdwn("see <https://x.example/long|the link> now", 20) == "see …"
    assert truncate_mrkdwn("short", 5) == "short" and len(truncate_mrkdwn("x" * 4000, 3000)) == 3000


def test_rate_limited_is_retryable_after_what_slack_asked(slack: HTTPServer) -> None:
    slack.expect_request(HOOK_PATH).respond_with_data("rate_limited", status=429, headers={"Retry-After": "30"})
    with pytest.raises(DeliveryError) as raised:
        build(slack.url_for(HOOK_PATH)).send(outgoing())
    assert raised.value.retryable and raised.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("status", "answer"),
    [(400, "invalid_payload"), (403, "invalid_token"), (404, "no_service"), (410, "channel_is_archived")],
)
def test_slack_errors_are_permanent_show_slacks_word_and_never_the_url(
    slack: HTTPServer, status: int, answer: str
) -> None:
    slack.expect_request(HOOK_PATH).respond_with_data(answer, status=status, content_type="text/plain")
    with pytest.raises(DeliveryError) as raised:
        build(slack.url_for(HOOK_PATH)).send(outgoing())
    error = str(raised.value)
    assert not raised.value.retryable and answer in error and "env:SLACK_URL" in error
    assert "s3cr3t" not in error and "SECRET" not in error


def test_the_webhook_path_never_reaches_urllib3s_debug_log(slack: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")
    posted(slack, outgoing())
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("urllib3"))  # not the server's
    assert '"POST /***' in ours  # urllib3 did log the request line...
    assert "s3cr3t" not in ours and "SECRET" not in ours  # ...without the secret path


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/services/T/B/s3cr3t",
        "http://hooks.slack.com/services/T/B/s3cr3t",
        "https://hooks.slack.com/triggers/T/s3cr3t",  # a Workflow Builder trigger takes another payload
        "s3cr3t",
    ],
)
def test_a_url_that_is_not_a_slack_webhook_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(DeliveryError, match="is not a Slack incoming-webhook URL") as raised:
        build(url).send(outgoing())
    assert not raised.value.retryable and "s3cr3t" not in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://hooks.slack-gov.com/services/T000/B000/XXXX",
        "http://127.0.0.1:8080/services/T/B/X",
    ],
)
def test_slack_webhook_urls_and_loopback_ones_are_accepted(url: str) -> None:
    assert webhook_url_problem(url) is None


def test_a_literal_webhook_url_is_refused_at_build() -> None:
    spec = DestinationSpec("d", "slack", {"webhook_url": "https://hooks.slack.com/services/T/B/s3cr3t"})
    with pytest.raises(NotifierError, match="must be a secret reference") as raised:
        build_destination(spec, BuildContext(Renderer(), SecretResolver(environ={})))
    assert "s3cr3t" not in str(raised.value)


def test_a_user_template_set_replaces_the_message(slack: HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "terse").mkdir()
    template = '{"text": {{ (kind ~ ": " ~ (resource_id|slack_escape))|tojson }}}'
    (tmp_path / "terse" / "message.json.j2").write_text(template)
    slack.expect_request(HOOK_PATH).respond_with_data("ok", content_type="text/plain")
    build(slack.url_for(HOOK_PATH), templates=tmp_path, template="terse").send(outgoing(resource_id=EVIL))
    [(request, _)] = slack.log
    assert json.loads(request.get_data()) == {"text": f"violated: {EVIL_ESCAPED}"}


@pytest.mark.parametrize(
    ("template", "words"),
    [('{"text": {{ resource_id }}}', "did not render JSON"), ('{"blocks": []}', "non-empty 'text'")],
)
def test_a_broken_template_fails_at_build(tmp_path: Path, template: str, words: str) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "message.json.j2").write_text(template)
    with pytest.raises(NotifierError, match=words):
        build("https://hooks.slack.com/services/T/B/x", templates=tmp_path, template="bad")


@pytest.mark.parametrize(
    ("destination", "words"),
    [
        ("{type: slack, webhook_url: env:SLACK_URL, template: slack, timeout: 5}", ""),
        ("{type: slack}", "required key 'webhook_url'"),
        ("{type: slack, webhook_url: env:SLACK_URL, channel: '#sec'}", "channel"),
    ],
)
def test_slack_config(destination: str, words: str) -> None:
    text = f"destinations:\n  d: {destination}\nroutes:\n  - {{name: r, destinations: [d]}}\n"
    found = " ".join(str(p) for p in find_problems(text, "t.yml", Path(".")))
    assert (words in found and found) if words else found == ""
