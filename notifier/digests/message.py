"""One digest, written out: counts by account, region and resource type, the first FIRST_RESOURCES
resources with their transition and annotation, and a link to each rule in the Config console.

Email gets a multipart message (text + escaped HTML) with the same headers as a single notification;
a file destination gets one JSON record (`digest_record`). Built in Python, not from the template set:
a digest has its own shape, and a user's notification templates expect one resource.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from ..render import console_links, header_safe
from ..state.digest_buffer import DigestBatch
from .hold import parse_group

FIRST_RESOURCES = 20


@dataclass(frozen=True, slots=True)
class Digest:
    batch: DigestBatch
    route: str
    destination: str
    reason: str  # group | baseline
    group: tuple[tuple[str, str], ...]
    items: tuple[dict[str, Any], ...]

    @classmethod
    def of(cls, batch: DigestBatch, items: Sequence[dict[str, Any]]) -> Digest:
        route, destination, reason, group = parse_group(batch.group)
        ordered = sorted(items, key=lambda i: (str(i.get("ordering_timestamp")), str(i.get("resource_id"))))
        return cls(batch, route, destination, reason, group, tuple(ordered))

    def counts(self, field: str) -> list[tuple[str, int]]:
        return Counter(str(item[field]) for item in self.items).most_common()

    @property
    def rule_links(self) -> dict[str, str]:
        """rule -> its page in the Config console (of the region of its first item)."""
        links: dict[str, str] = {}
        for item in self.items:
            if item["rule"] not in links:
                links[item["rule"]] = console_links(item["region"], item["rule"], "", "")["rule"]
        return links

    @property
    def subject(self) -> str:
        what = "first evaluation" if self.reason == "baseline" else "compliance change"
        group = ", ".join(f"{k}={v}" for k, v in self.group) or self.route
        return header_safe(
            f"[compliance digest] {len(self.items)} {what}{'s' if len(self.items) != 1 else ''}: {group}"
        )

    def text(self) -> str:
        lines = [
            self.subject,
            "",
            f"Window: {self.batch.opened_at} to {self.batch.window_end} (route {self.route})",
            "",
        ]
        for field in ("account", "region", "resource_type", "transition"):
            lines.append(f"By {field.replace('_', ' ')}:")
            lines += [f"  {value}: {count}" for value, count in self.counts(field)]
        lines += ["", f"First {min(FIRST_RESOURCES, len(self.items))} of {len(self.items)} resources:"]
        for item in self.items[:FIRST_RESOURCES]:
            note = f" — {item['annotation']}" if item.get("annotation") else ""
            lines.append(
                f"  {item['account']} {item['region']} {item['resource_type']} {item['resource_id']}: "
                f"{item['from']} → {item['to']} ({item['transition']}){note}"
            )
        lines += ["", *(f"Rule {rule}: {link}" for rule, link in self.rule_links.items())]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = html.escape
        parts = [
            f"<h2>{e(self.subject)}</h2>",
            f"<p>Window {e(self.batch.opened_at)} to {e(self.batch.window_end)}</p>",
        ]
        for field in ("account", "region", "resource_type", "transition"):
            rows = "".join(f"<tr><td>{e(v)}</td><td>{c}</td></tr>" for v, c in self.counts(field))
            parts.append(f"<h3>By {e(field.replace('_', ' '))}</h3><table>{rows}</table>")
        rows = "".join(
            f"<tr><td>{e(i['account'])}</td><td>{e(i['region'])}</td><td>{e(i['resource_type'])}</td>"
            f"<td>{e(i['resource_id'])}</td><td>{e(i['transition'])}</td><td>{e(i.get('annotation') or '')}</td></tr>"
            for i in self.items[:FIRST_RESOURCES]
        )
        parts.append(
            f"<h3>First {min(FIRST_RESOURCES, len(self.items))} of {len(self.items)}</h3><table>{rows}</table>"
        )
        parts += [f'<p><a href="{e(link)}">Rule {e(rule)}</a></p>' for rule, link in self.rule_links.items()]
        return "\n".join(parts)

    def record(self) -> dict[str, Any]:
        """The JSON record a file destination appends (one line)."""
        return {
            "digest": True,
            "destination": self.destination,
            "route": self.route,
            "reason": self.reason,
            "group": dict(self.group),
            "window": {"opened_at": self.batch.opened_at, "closed_at": self.batch.window_end},
            "total": len(self.items),
            "by_account": dict(self.counts("account")),
            "by_region": dict(self.counts("region")),
            "by_resource_type": dict(self.counts("resource_type")),
            "by_transition": dict(self.counts("transition")),
            "resources": list(self.items[:FIRST_RESOURCES]),
            "rule_links": self.rule_links,
        }


def digest_email(digest: Digest, sender: str, to: list[str], cc: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = digest.subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(idstring="compliance-digest", domain=sender.rpartition("@")[2] or "invalid")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Compliance-Digest"] = str(len(digest.items))
    message.set_content(digest.text(), subtype="plain", charset="utf-8")
    message.add_alternative(digest.html(), subtype="html", charset="utf-8")
    return message
