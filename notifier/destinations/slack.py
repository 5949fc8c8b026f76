"""Slack (`type: slack`): a Block Kit message through an incoming webhook.

The message comes from a template set (default ``templates/slack``, file ``message.json.j2``) that
renders the whole JSON payload: a ``text`` fallback (notifications, screen readers) and one attachment
whose ``color`` bar shows the transition kind at a glance, holding the blocks (header with an emoji,
resource, rule, account, region, change, annotation, console links). An attachment rather than bare
blocks because the colour bar is what people scan a busy channel by; Slack still documents ``color``
with blocks inside attachments.

Why it is built this way:

* Every value taken from the notification goes through the ``slack_escape`` filter (``&``, ``<``, ``>``
  as Slack's mrkdwn asks) and then ``|tojson``: a resource id like ``<!channel>`` cannot ping a channel
  or forge a link, and no value can break the JSON.
* After rendering, every text is cut to Slack's limits (header 150, section text and other texts 3000,
  section fields 2000), never inside an escape entity or a ``<link>``, so a long annotation or resource
  id still posts instead of earning a 400 ``invalid_blocks``.
* The webhook URL is the secret: it is a reference resolved per request (cached by the resolver), checked
  to be ``https://hooks.slack.com/...`` (or GovSlack's host; plain http only to loopback, for tests), and
  never appears in an error (calls are named by the reference) nor in urllib3's debug log (filtered).
* Slack answers ``200 ok`` as text/plain; its errors (400 ``invalid_payload``, 403 ``invalid_token``,
  404 ``no_service``, 410 ``channel_is_archived``) are permanent with Slack's word shown; 429 is retried
  after its ``Retry-After`` — all classified by `HttpChannel`.
* No ``channel``/``username``/``icon`` options: Slack-app incoming webhooks ignore them (the app's
  settings win), so offering them would only mislead.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import DeliveryError, NotifierError
from ..render import Renderer, RenderError, message_context, sample_outgoing
from ..secrets import SecretResolver, is_secret_reference, resolve_for_delivery
from .base import DestinationSpec, Outgoing
from .http import HttpChannel
from .webhook import is_loopback
from .webhook_payload import TemplateProblem

if TYPE_CHECKING:
    from ..digests.message import Digest
    from .registry import BuildContext

DEFAULT_TEMPLATE_SET = "slack"
TEMPLATE_NAME = "message.json.j2"
DEFAULT_TIMEOUT_SECONDS = 10.0
SLACK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})

# Slack's documented limits (Block Kit reference): characters per text object.
HEADER_LIMIT = 150
SECTION_FIELD_LIMIT = 2000
TEXT_LIMIT = 3000  # section text, context elements, and (well under Slack's 40k) the top-level fallback
_ELLIPSIS = "…"


def slack_escape(value: object) -> str:
    """Slack mrkdwn escaping: only & < > are control characters (https://api.slack.com/reference/surfaces/formatting)."""
    if value is None:
        return ""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate_mrkdwn(text: str, limit: int) -> str:
    """At most `limit` characters, ending in '…' when cut; never cut inside '&amp;' or '<url|text>'
    (in escaped text every '&' starts an entity and every '<' a link or mention)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(_ELLIPSIS)]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut + _ELLIPSIS


def fit_to_limits(message: dict[str, Any]) -> dict[str, Any]:
    """Cut every text of the message (top-level and attachment blocks) to Slack's limits, in place."""
    if isinstance(message.get("text"), str):
        message["text"] = truncate_mrkdwn(message["text"], TEXT_LIMIT)
    block_lists = [message.get("blocks")]
    block_lists += [a.get("blocks") for a in message.get("attachments") or [] if isinstance(a, dict)]
    for blocks in block_lists:
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, dict):
                _fit_block(block)
    return message


def _fit_block(block: dict[str, Any]) -> None:
    limit = HEADER_LIMIT if block.get("type") == "header" else TEXT_LIMIT
    _fit_text_object(block.get("text"), limit)
    for field in block.get("fields") or []:
        _fit_text_object(field, SECTION_FIELD_LIMIT)
    for element in block.get("elements") or []:
        _fit_text_object(element, TEXT_LIMIT)


def _fit_text_object(text_object: Any, limit: int) -> None:
    if isinstance(text_object, dict) and isinstance(text_object.get("text"), str):
        text_object["text"] = truncate_mrkdwn(text_object["text"], limit)


def webhook_url_problem(url: str) -> str | None:
    """None for a Slack incoming-webhook URL (or a loopback one, for tests). Never quotes the URL."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL"
    if is_loopback(host) and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https" or host not in SLACK_HOSTS or not parts.path.startswith("/services/"):
        return "is not a Slack incoming-webhook URL (https://hooks.slack.com/services/...)"
    return None


class _SecretPathFilter(logging.Filter):
    """urllib3 logs every request line, path included, at DEBUG; a Slack webhook's path is its secret."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: frozenset[str] = frozenset()
        self._lock = threading.Lock()  # two first sends at once must not each drop the other's path

    def remember(self, path: str) -> None:
        if len(path) > 1 and path not in self.paths:
            with self._lock:
                self.paths = self.paths | {path}  # replaced, not mutated: filter() may be iterating in another thread

    def filter(self, record: logging.LogRecord) -> bool:
        paths = self.paths
        if paths and isinstance(record.args, tuple):
            record.args = tuple(_redact(arg, paths) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _redact(text: str, paths: frozenset[str]) -> str:
    for path in paths:
        text = text.replace(path, "/***")
    return text


_REDACT = _SecretPathFilter()
logging.getLogger("urllib3.connectionpool").addFilter(_REDACT)


def register_filters(renderer: Renderer) -> None:
    """Make `slack_escape` available to templates (before any Slack template is compiled)."""
    renderer.environment.filters.setdefault("slack_escape", slack_escape)


class SlackDestination:
    def __init__(
        self,
        spec: DestinationSpec,
        renderer: Renderer,
        channel: HttpChannel,
        secrets: SecretResolver,
        url_reference: str,
    ) -> None:
        self.spec = spec
        self.renderer = renderer
        self.channel = channel
        self.secrets = secrets
        self.url_reference = url_reference
        self.template_set = str(spec.options.get("template") or DEFAULT_TEMPLATE_SET)

    def send(self, outgoing: Outgoing) -> str | None:
        self._post(self.message(outgoing))
        return None  # sent

    def send_digest(self, digest: Digest) -> str | None:
        from ..digests.formats import slack_digest_message

        self._post(slack_digest_message(digest))
        return None

    def _post(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=True, separators=(",", ":")).encode("ascii")
        url = resolve_for_delivery(self.secrets, destination=self.spec.name, reference=self.url_reference).strip()
        problem = webhook_url_problem(url)
        if problem:
            raise DeliveryError(self.spec.name, f"the value of {self.url_reference} {problem}", retryable=False)
        _REDACT.remember(urlsplit(url).path)
        self.channel.request(
            "POST",
            url,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8"},
            expect_json=False,
            label=f"POST to the Slack webhook in {self.url_reference}",
        )

    def message(self, outgoing: Outgoing) -> dict[str, Any]:
        """The Block Kit payload, within Slack's limits. A template problem is permanent."""
        try:
            text = self.renderer.render_template(self.template_set, TEMPLATE_NAME, message_context(outgoing))
        except RenderError as exc:
            raise TemplateProblem(self.spec.name, f"cannot render the Slack message: {exc}") from None
        where = f"{self.template_set}/{TEMPLATE_NAME}"
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            reason = f"{where} did not render JSON ({exc.msg} at line {exc.lineno}); use |tojson for every value"
            raise TemplateProblem(self.spec.name, reason) from None
        if not isinstance(message, dict) or not isinstance(message.get("text"), str) or not message["text"].strip():
            reason = f"{where} must render a JSON object with a non-empty 'text' (the notification fallback)"
            raise TemplateProblem(self.spec.name, reason)
        return fit_to_limits(message)


def dry_run_answer(method: str, path: str, body: Any) -> tuple[int, Any]:
    """Slack's answer to a good incoming-webhook post: 200 "ok" as text/plain."""
    return 200, "ok"


def create(spec: DestinationSpec, context: BuildContext) -> SlackDestination:
    reference = spec.options.get("webhook_url")
    if not isinstance(reference, str) or not is_secret_reference(reference):
        raise NotifierError(
            f"destination {spec.name!r}: webhook_url must be a secret reference (env:NAME, ssm:/path or "
            "secretsmanager:name), because the URL itself is the secret; the value is not repeated here"
        )
    register_filters(context.renderer)
    # The URL is only known per request (it is a secret), so the channel has no base URL of its own.
    timeout = float(spec.options.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
    channel = HttpChannel(spec.name, "", timeout=timeout, headers={"User-Agent": "compliance-notifier"})
    if spec.dry_run:  # record the post; its URL's path is the secret, so it is masked
        from .recording import RequestMask

        channel.rehearse(RequestMask.of(spec, context.secrets, path_is_secret=True), dry_run_answer)
    destination = SlackDestination(spec, context.renderer, channel, context.secrets, reference)
    try:  # trial-render now: a broken template fails the config load, not the first violation
        destination.message(sample_outgoing())
    except TemplateProblem as exc:
        raise NotifierError(f"destination {spec.name!r}: {exc.reason}") from None
    return destination
