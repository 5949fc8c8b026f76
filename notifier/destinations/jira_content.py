"""What a Jira ticket says: summary, description and comments, rendered from the `jira` template set.

Cloud takes Atlassian Document Format (ADF), Data Center takes wiki markup; each has its own
templates (``*.cloud.json.j2`` / ``*.datacenter.wiki.j2``) beside one shared ``summary.txt.j2``.

* ADF templates write JSON in which every dynamic value goes through ``|tojson``: a resource id or an
  annotation can only ever become a JSON string inside a text node, never markup or structure. The
  result is parsed here and must be a ``doc``; empty text nodes (an absent annotation) are dropped,
  because ADF requires text to be non-empty.
* Wiki templates pass every value taken from the notification through ``|jira_wiki`` (see
  `jira_markup`), and link targets through ``|jira_wiki_url``.
* Jira refuses text longer than 32,767 UTF-16 units and summaries longer than 255: both are cut here,
  with a visible note in descriptions and comments, so a long annotation never costs the ticket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..render import Renderer, RenderError, message_context, sample_outgoing
from .base import Outgoing
from .jira_markup import MAX_TEXT_UNITS, cut_to_units, one_line, utf16_units

SUMMARY = "summary.txt.j2"
PARTS: dict[str, dict[str, str]] = {
    "cloud": {"description": "description.cloud.json.j2", "comment": "comment.cloud.json.j2"},
    "datacenter": {"description": "description.datacenter.wiki.j2", "comment": "comment.datacenter.wiki.j2"},
}
COMMENT_ACTIONS = ("comment", "resolve", "reopen", "close")
TRUNCATION_NOTE = "(Truncated: the full text exceeded Jira's limit of 32,767 characters.)"

JiraText = dict[str, Any] | str  # an ADF document (Cloud) or wiki markup (Data Center)


class JiraContent:
    """Renders one destination's ticket texts; built once per destination."""

    def __init__(self, renderer: Renderer, template_set: str, flavor: str, *, limit: int = MAX_TEXT_UNITS) -> None:
        self.renderer = renderer
        self.template_set = template_set
        self.flavor = flavor
        self.parts = PARTS[flavor]
        self.limit = limit

    def summary(self, outgoing: Outgoing, extra: dict[str, Any]) -> str:
        text = one_line(self._render(SUMMARY, outgoing, extra))
        if not text:
            raise RenderError(f"template {self.template_set}/{SUMMARY} rendered an empty summary")
        return text

    def description(self, outgoing: Outgoing, extra: dict[str, Any]) -> JiraText:
        return self._rich("description", outgoing, extra)

    def comment(self, outgoing: Outgoing, action: str, extra: dict[str, Any]) -> JiraText:
        return self._rich("comment", outgoing, {**extra, "action": action})

    def check(self, extra: dict[str, Any]) -> None:
        """Trial-render every template with a sample notification; raise RenderError on the first problem."""
        sample = sample_outgoing()
        self.summary(sample, extra)
        self.description(sample, extra)
        for action in COMMENT_ACTIONS:
            self.comment(sample, action, extra)

    def _render(self, name: str, outgoing: Outgoing, extra: dict[str, Any]) -> str:
        context = {**message_context(outgoing), "action": "open", **extra}
        return self.renderer.render_template(self.template_set, name, context)

    def _rich(self, part: str, outgoing: Outgoing, extra: dict[str, Any]) -> JiraText:
        name = self.parts[part]
        text = self._render(name, outgoing, extra)
        if self.flavor == "datacenter":
            return fit_wiki(text.strip(), self.limit)
        return fit_adf(parse_adf(text, f"{self.template_set}/{name}"), self.limit)


def parse_adf(text: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise RenderError(f"template {where} did not render valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("type") != "doc" or not isinstance(document.get("content"), list):
        raise RenderError(f'template {where} must render an ADF document: {{"type": "doc", "content": [...]}}')
    document.setdefault("version", 1)
    _drop_empty_text(document)
    return document


def _drop_empty_text(node: dict[str, Any]) -> None:
    """ADF text must be a non-empty string: drop empty or null ones (an absent annotation), stringify others."""
    content = node.get("content")
    if not isinstance(content, list):
        return
    kept: list[Any] = []
    for child in content:
        if isinstance(child, dict) and child.get("type") == "text":
            value = child.get("text")
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                child["text"] = str(value)
        if isinstance(child, dict):
            _drop_empty_text(child)
        kept.append(child)
    node["content"] = kept


def _size(document: dict[str, Any]) -> int:
    return utf16_units(json.dumps(document, ensure_ascii=False, separators=(",", ":")))


def _text_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            yield node
        for child in node.get("content") or ():
            yield from _text_nodes(child)


def fit_adf(document: dict[str, Any], limit: int) -> dict[str, Any]:
    """Shorten the longest text nodes until the serialized document fits, then say so at its end.

    Jira counts the stored JSON, so the budget is the serialized size, not the visible text."""
    if _size(document) <= limit:
        return document
    note = {"type": "paragraph", "content": [{"type": "text", "text": TRUNCATION_NOTE, "marks": [{"type": "em"}]}]}
    budget = limit - _size({"n": note}) - 1  # the note, and the comma before it
    while _size(document) > budget:
        excess = _size(document) - budget
        longest = max(_text_nodes(document), key=lambda node: len(node["text"]), default=None)
        if longest is not None and len(longest["text"]) > 1:
            keep = max(1, len(longest["text"]) - excess - 1)  # the -1 leaves room for the ellipsis
            longest["text"] = longest["text"][:keep] + "…"
        elif len(document["content"]) > 1:
            document["content"].pop()  # every text is down to one character: drop whole blocks from the end
        else:
            break
    document["content"].append(note)
    return document


def fit_wiki(text: str, limit: int) -> str:
    if utf16_units(text) <= limit:
        return text
    note = f"\n\n_{TRUNCATION_NOTE}_"
    return cut_to_units(text, limit - utf16_units(note)).rstrip() + note
