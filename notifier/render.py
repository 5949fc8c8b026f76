"""Turn an `Outgoing` into the words people read: one sandboxed Jinja2 environment per `Renderer`.

A template set is a folder holding ``subject.txt.j2``, ``body.txt.j2`` and ``body.html.j2``. The
user's ``templates_dir`` (optional) is searched first, then the bundled ``templates/``, file by
file, so a user may override just the subject of the default set. Other channels keep their own sets
(``templates/jira``: summary, description and comments) and render them one file at a time with
`Renderer.render_template`, under the same rules. Templates are user input, so:

* the environment is a `SandboxedEnvironment` (no ``__class__``/``_private`` access from a template);
* ``StrictUndefined``: a typo'd variable fails loudly instead of rendering an empty string;
* ``*.html.j2`` is autoescaped (resource ids and annotations are attacker-influenced text), ``*.txt.j2``
  is not (a text/plain body must not show ``&lt;``);
* the subject is made header-safe after rendering: control characters and U+2028/2029 become spaces,
  whitespace is collapsed and the length capped, so no value can inject or break a mail header.
"""

from __future__ import annotations

import re
import threading
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Template, TemplateNotFound
from jinja2.exceptions import TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from .destinations.base import Outgoing
from .destinations.jira_markup import escape_wiki, wiki_link_target
from .errors import NotifierError
from .notification import ComplianceNotification, EvaluationResult
from .resources import TEMPLATES_DIR
from .transition import Compliance, TransitionKind, transition

SUBJECT, TEXT_BODY, HTML_BODY = "subject.txt.j2", "body.txt.j2", "body.html.j2"
EMAIL_PARTS = (SUBJECT, TEXT_BODY, HTML_BODY)

MAX_SUBJECT_CHARS = 180  # RFC 5322 advises 78-char lines; folded subjects beyond ~180 get cut by clients anyway

# C0 controls, DEL, C1 controls (NEL among them) and the Unicode line/paragraph separators:
# anything a mail header, a log line or `str.splitlines()` could treat as a break.
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_TEMPLATE_NAME = _SET_NAME  # one file inside a set: no '/' and no leading '.'

# The tone of a transition, which the default HTML template turns into a colour.
_TONE: dict[TransitionKind, str] = {
    TransitionKind.FIRST_VIOLATION: "bad",
    TransitionKind.VIOLATED: "bad",
    TransitionKind.RESOLVED: "good",
}


class RenderError(NotifierError):
    """A template set is missing or a template failed; names the template file and line."""


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str  # already header-safe
    text: str
    html: str


def header_safe(value: str, limit: int = MAX_SUBJECT_CHARS) -> str:
    """One line of text fit for a mail header: no control characters, collapsed spaces, bounded."""
    flat = " ".join(_CONTROL_CHARS.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def console_base(region: str) -> str:
    """The AWS console origin for a region (China and GovCloud live on other domains)."""
    if region.startswith("cn-"):
        return f"https://{region}.console.amazonaws.cn"
    if region.startswith("us-gov-"):
        return "https://console.amazonaws-us-gov.com"
    return f"https://{region}.console.aws.amazon.com"


def console_links(region: str, rule: str, resource_type: str, resource_id: str) -> dict[str, str]:
    # Everything user-controlled is percent-quoted with no safe characters: a resource id holding
    # `&`, `#` or `"` cannot add parameters to the link or leave the attribute it sits in.
    home = f"{console_base(region)}/config/home?region={quote(region, safe='')}"
    return {
        "resource": f"{home}#/resources/details?resourceId={quote(resource_id, safe='')}"
        f"&resourceType={quote(resource_type, safe='')}",
        "rule": f"{home}#/rules/details?configRuleName={quote(rule, safe='')}",
    }


def readable_time(timestamp: str | None) -> str | None:
    """'2020-04-13T21:47:43.216Z' -> '2020-04-13 21:47:43 UTC'; an unparsable value is shown as is."""
    if timestamp is None:
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def message_context(outgoing: Outgoing) -> dict[str, Any]:
    """Everything a template sees. Adding a key is safe; renaming one breaks users' templates."""
    notification, transition = outgoing.notification, outgoing.transition
    new = notification.new
    return {
        "notification": notification,
        "transition": transition,  # .kind, .old, .new, .in_words
        "kind": transition.kind.value,
        "in_words": transition.in_words,
        "tone": _TONE.get(transition.kind, "neutral"),
        "from": transition.old.value,
        "to": transition.new.value,
        "rule": notification.rule,
        "rule_arn": notification.rule_arn,
        "resource_type": notification.resource_type,
        "resource_id": notification.resource_id,
        "account": notification.account,
        "region": notification.region,
        "annotation": new.annotation,
        "previous_annotation": notification.old.annotation if notification.old else None,
        "happened_at": new.ordering_timestamp,
        "happened_at_readable": readable_time(new.ordering_timestamp),
        "recorded_at": new.recorded_at,
        "routes": list(outgoing.routes),
        "message_id": outgoing.message_id,
        "links": console_links(
            notification.region, notification.rule, notification.resource_type, notification.resource_id
        ),
    }


def _autoescape(template_name: str | None) -> bool:
    return template_name is not None and template_name.endswith(".html.j2")


class Renderer:
    """Built once per process; compiled templates are cached for the life of the process."""

    def __init__(self, user_templates_dir: Path | None = None) -> None:
        self.user_templates_dir = user_templates_dir
        self.search_path = tuple(p for p in (user_templates_dir, TEMPLATES_DIR) if p is not None)
        self.environment = SandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(str(path)) for path in self.search_path]),
            undefined=StrictUndefined,
            autoescape=_autoescape,
            auto_reload=False,  # templates do not change under a running Lambda: skip the stat per render
            keep_trailing_newline=False,
        )
        # Escapers for markup languages other than HTML, for the template sets that need them
        # (templates/jira: Data Center wiki markup). Registered before any template is compiled.
        self.environment.filters["jira_wiki"] = escape_wiki
        self.environment.filters["jira_wiki_url"] = wiki_link_target
        self._compiled: dict[str, Template] = {}
        self._lock = threading.Lock()

    def render_email(self, outgoing: Outgoing, template_set: str = "default") -> RenderedMessage:
        context = message_context(outgoing)
        subject, text, html = (self._render(f"{_checked_set(template_set)}/{part}", context) for part in EMAIL_PARTS)
        return RenderedMessage(subject=header_safe(subject), text=text.strip() + "\n", html=html)

    def render_template(self, template_set: str, name: str, context: dict[str, Any]) -> str:
        """One template of a set (e.g. ``jira/description.cloud.json.j2``), with the same sandbox, strictness
        and user-first search path as email; autoescaped only when `name` ends in ``.html.j2``."""
        if not _TEMPLATE_NAME.fullmatch(name):
            raise RenderError(f"template name {name!r} is not a valid file name")
        return self._render(f"{_checked_set(template_set)}/{name}", context)

    def check(self, template_set: str) -> list[str]:
        """Compile (and trial-render with a sample notification) every template of a set; [] means fine."""
        if not _SET_NAME.fullmatch(template_set):
            return [f"template set {template_set!r} is not a valid name (letters, digits, '_', '.', '-')"]
        missing = [part for part in EMAIL_PARTS if not self._exists(f"{template_set}/{part}")]
        if len(missing) == len(EMAIL_PARTS):
            where = " or ".join(str(path) for path in self.search_path)
            return [f"template set {template_set!r} not found in {where}"]
        problems = [f"template set {template_set!r} has no {part}" for part in missing]
        sample = message_context(_sample_outgoing())
        for part in EMAIL_PARTS:
            if part in missing:
                continue
            name = f"{template_set}/{part}"
            try:
                self._render(name, sample)
            except RenderError as exc:
                problems.append(str(exc))
        return problems

    def _exists(self, name: str) -> bool:
        try:
            self.environment.get_template(name)
        except TemplateNotFound:
            return False
        except TemplateError:
            return True  # present but broken: reported by the trial render
        return True

    def _template(self, name: str) -> Template:
        template = self._compiled.get(name)
        if template is None:
            with self._lock:
                template = self._compiled.get(name) or self.environment.get_template(name)
                self._compiled[name] = template
        return template

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self._template(name).render(context)
        except TemplateNotFound:
            raise RenderError(f"template {name} not found in {', '.join(map(str, self.search_path))}") from None
        except TemplateSyntaxError as exc:
            raise RenderError(f"{exc.filename or exc.name or name}, line {exc.lineno}: {exc.message}") from None
        except TemplateError as exc:  # UndefinedError, SecurityError, ...
            where = _failing_location(exc, name, self.search_path)
            raise RenderError(f"{where}: {exc.message or type(exc).__name__}") from None


def _checked_set(template_set: str) -> str:
    if not _SET_NAME.fullmatch(template_set):
        raise RenderError(f"template set {template_set!r} is not a valid name (letters, digits, '_', '.', '-')")
    return template_set


def _failing_location(exc: BaseException, name: str, roots: tuple[Path, ...]) -> str:
    """Jinja2 rewrites tracebacks so template frames carry the template's file and line: find the last."""
    prefixes = tuple(str(root) for root in roots)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(prefixes):
            return f"{frame.filename}, line {frame.lineno}"
    return name


def sample_outgoing() -> Outgoing:
    """The notification trial renders use; channels with their own template sets check them with it."""
    return _sample_outgoing()


def _sample_outgoing() -> Outgoing:
    """A fully populated notification, so a trial render reaches (and checks) every optional block."""

    def result(compliance: Compliance, at: str, annotation: str) -> EvaluationResult:
        return EvaluationResult(compliance, at, at, at, annotation)

    notification = ComplianceNotification(
        account="123456789012",
        region="us-east-1",
        rule="sample-rule",
        rule_arn="arn:aws:config:us-east-1:123456789012:config-rule/config-rule-sample",
        resource_type="AWS::IAM::User",
        resource_id="AIDASAMPLEUSERID",
        new=result(Compliance.NON_COMPLIANT, "2024-01-02T03:04:05.000Z", "sample annotation"),
        old=result(Compliance.COMPLIANT, "2024-01-01T03:04:05.000Z", "earlier annotation"),
        created_at="2024-01-02T03:04:06.000Z",
        record_version="1.0",
    )
    return Outgoing(
        notification,
        transition(Compliance.COMPLIANT, Compliance.NON_COMPLIANT),
        ("sample-route",),
        "00000000-0000-0000-0000-000000000000",
    )
