"""A digest written for each channel that can take one: a signed webhook's JSON, a Slack Block Kit
message, a Jira ticket (ADF for Cloud, wiki markup for Data Center) and a ServiceNow incident's texts.
(Email and file are in `message.py`.) Built in Python from `Digest`, like the email: a digest has its
own shape, and a user's notification templates expect one resource.

Every resource id, annotation or rule name is attacker-influenced text: it only ever becomes a JSON
string, an ADF text node, escaped wiki markup or escaped mrkdwn here — never structure.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..destinations.jira_markup import cut_to_units, escape_wiki, one_line, wiki_link_target
from ..destinations.slack import fit_to_limits, slack_escape
from .message import FIRST_RESOURCES, Digest

WEBHOOK_DIGEST_TYPE = "compliance.digest"
_COUNTED = ("account", "region", "resource_type", "transition")


def digest_label(digest: Digest) -> str:
    """The umbrella ticket's label (Jira) or correlation_id (ServiceNow): stable per window, so a flush
    retried after the ticket was opened finds it instead of opening a second one."""
    return "cn-digest-" + hashlib.sha256(digest.batch.bucket.encode()).hexdigest()[:16]


def digest_message_id(destination: str, digest: Digest) -> str:
    """The webhook-id of a digest: the same on every retry of this window's flush, never a second's."""
    return "msg_" + hashlib.sha256(f"{destination}\n{digest.batch.bucket}".encode()).hexdigest()[:32]


def webhook_digest_payload(digest: Digest, message_id: str) -> dict[str, Any]:
    """`schemas/webhook-digest.v1.schema.json` is its contract."""
    record = digest.record()
    return {
        "version": 1,
        "type": WEBHOOK_DIGEST_TYPE,
        "id": message_id,
        "timestamp": digest.batch.window_end,
        "reason": record["reason"],
        "route": record["route"],
        "group": record["group"],
        "window": record["window"],
        "total": record["total"],
        "counts": {field: record[f"by_{field}"] for field in _COUNTED},
        "resources": record["resources"],
        "rule_links": record["rule_links"],
    }


def slack_digest_message(digest: Digest) -> dict[str, Any]:
    counts = "\n".join(
        f"*By {field.replace('_', ' ')}:* "
        + ", ".join(f"{slack_escape(value)} ({count})" for value, count in digest.counts(field)[:10])
        for field in _COUNTED
    )
    shown = digest.items[:FIRST_RESOURCES]
    lines = "\n".join(
        f"• `{slack_escape(i['resource_id'])}` {slack_escape(i['resource_type'])} in {slack_escape(i['account'])}"
        f" {slack_escape(i['region'])}: {slack_escape(i['transition'])}"
        for i in shown
    )
    links = " · ".join(f"<{link}|Rule {slack_escape(rule)}>" for rule, link in digest.rule_links.items())
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": digest.subject}},
        {"type": "section", "text": {"type": "mrkdwn", "text": counts}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*First {len(shown)} of {len(digest.items)}:*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
    ]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": links}]})
    return fit_to_limits({"text": slack_escape(digest.subject), "blocks": blocks})


def ticket_summary(digest: Digest) -> str:
    return one_line(digest.subject)


def ticket_text(digest: Digest, limit: int) -> str:
    """Plain text (ServiceNow's description), cut to `limit` UTF-16 units."""
    return cut_to_units(digest.text(), limit)


def wiki_digest(digest: Digest, limit: int) -> str:
    """Jira Data Center's description, in wiki markup."""
    lines = [f"h3. {escape_wiki(digest.subject)}", f"Window {digest.batch.opened_at} to {digest.batch.window_end}", ""]
    for field in _COUNTED:
        lines.append(f"*By {field.replace('_', ' ')}:* " + ", ".join(
            f"{escape_wiki(value)} ({count})" for value, count in digest.counts(field)))  # fmt: skip
    lines += ["", f"*First {min(FIRST_RESOURCES, len(digest.items))} of {len(digest.items)} resources:*"]
    lines += [
        f"* {escape_wiki(i['account'])} {escape_wiki(i['region'])} {escape_wiki(i['resource_type'])} "
        f"{escape_wiki(i['resource_id'])}: {escape_wiki(i['transition'])}"
        for i in digest.items[:FIRST_RESOURCES]
    ]
    lines += [f"[Rule {escape_wiki(rule)}|{wiki_link_target(link)}]" for rule, link in digest.rule_links.items()]
    return cut_to_units("\n".join(lines), limit)


def adf_digest(digest: Digest) -> dict[str, Any]:
    """Jira Cloud's description, an ADF document (checked against the ADF schema in the tests)."""

    def paragraph(*nodes: dict[str, Any]) -> dict[str, Any]:
        return {"type": "paragraph", "content": list(nodes)}

    def text(value: object, *marks: dict[str, Any]) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "text", "text": str(value) or "-"}
        if marks:
            node["marks"] = list(marks)
        return node

    strong = {"type": "strong"}
    content: list[dict[str, Any]] = [
        paragraph(text(f"Window {digest.batch.opened_at} to {digest.batch.window_end} (route {digest.route})"))
    ]
    for field in _COUNTED:
        counts = ", ".join(f"{value} ({count})" for value, count in digest.counts(field))
        content.append(paragraph(text(f"By {field.replace('_', ' ')}: ", strong), text(counts)))
    shown = digest.items[:FIRST_RESOURCES]
    content.append(paragraph(text(f"First {len(shown)} of {len(digest.items)} resources:", strong)))
    content.append(
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [
                        paragraph(
                            text(i["resource_id"], {"type": "code"}),
                            text(f" {i['resource_type']} in {i['account']} {i['region']}: {i['transition']}"),
                        )
                    ],
                }
                for i in shown
            ],
        }
    )
    for rule, link in digest.rule_links.items():
        content.append(paragraph(text(f"Rule {rule}", {"type": "link", "attrs": {"href": link}})))
    return {"version": 1, "type": "doc", "content": content}
