"""A Jira destination's config, read and checked once when the destination is built, and its credentials.

The routing-config schema already checked types; this adds what a schema cannot say (a Cloud
destination needs `email`, custom fields may not overwrite the fields the channel sets itself, labels
cannot hold spaces) and turns the options into the exact values the requests need.

Credentials: Cloud takes HTTP basic (account email + API token), Data Center a bearer personal access
token. `JiraAuth` resolves the token reference on every request (`SecretResolver` caches SSM and
Secrets Manager values), so no secret sits in config or in this object, and a rotation is picked up.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from ..errors import NotifierError
from ..secrets import SecretResolver, is_secret_reference, resolve_for_delivery
from .base import DestinationSpec
from .http import DEFAULT_TIMEOUT

FLAVORS = ("cloud", "datacenter")
DEFAULT_TEMPLATE_SET = "jira"
DEFAULT_ISSUE_TYPE = "Task"
DEFAULT_RESOLVE_PATH = ("Done",)
DEFAULT_REOPEN_PATH = ("Reopen",)
DEFAULT_RESOLUTION = "Done"
DEFAULT_RETIRED_RESOLUTION = "Won't Do"

# Fields the channel fills itself: a custom_fields entry with one of these names would silently win or lose.
OWN_FIELDS = frozenset(
    {"project", "issuetype", "summary", "description", "labels", "components", "priority", "assignee"}
)


@dataclass(frozen=True, slots=True)
class JiraSettings:
    name: str  # the destination's name, for messages
    flavor: str  # cloud | datacenter
    url: str  # base URL without a trailing slash
    project: str
    token_reference: str  # a secret reference (env:/ssm:/secretsmanager:), never the secret itself
    email: str | None = None  # Cloud basic auth user
    issue_type: str = DEFAULT_ISSUE_TYPE
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    priority: str | int | Mapping[str, str | int] | None = None
    assignee: str | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)
    resolve_path: tuple[str, ...] = DEFAULT_RESOLVE_PATH
    close_path: tuple[str, ...] = DEFAULT_RESOLVE_PATH
    reopen_path: tuple[str, ...] = DEFAULT_REOPEN_PATH
    resolution: str = DEFAULT_RESOLUTION
    retired_resolution: str = DEFAULT_RETIRED_RESOLUTION
    template_set: str = DEFAULT_TEMPLATE_SET
    timeout: float = DEFAULT_TIMEOUT

    @property
    def cloud(self) -> bool:
        return self.flavor == "cloud"

    def priority_for(self, kind: str) -> dict[str, str] | None:
        """`priority` is one value for every ticket, or a value per transition kind; a number is an id."""
        value = self.priority.get(kind) if isinstance(self.priority, Mapping) else self.priority
        if value is None:
            return None
        return {"id": str(value)} if isinstance(value, int) else {"name": value}

    @classmethod
    def from_spec(cls, spec: DestinationSpec) -> JiraSettings:
        options = spec.options

        def problem(message: str) -> NotifierError:
            return NotifierError(f"destination {spec.name!r} (jira): {message}")

        flavor = options.get("flavor")
        if flavor not in FLAVORS:
            raise problem(f"flavor must be one of {', '.join(FLAVORS)}, not {flavor!r}")
        url, project, token = options.get("url"), options.get("project"), options.get("token")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise problem(f"url must be the Jira base URL (https://...), not {url!r}")
        if not isinstance(project, str) or not project:
            raise problem("project must name the project key")
        if not isinstance(token, str) or not is_secret_reference(token):
            raise problem("token must be a secret reference (env:NAME, ssm:/path or secretsmanager:name)")
        email = options.get("email")
        if flavor == "cloud" and not email:
            raise problem("Jira Cloud authenticates with email + API token: set email")
        labels = tuple(options.get("labels") or ())
        if any(not label or any(ch.isspace() for ch in label) for label in labels):
            raise problem(f"Jira labels cannot be empty or hold spaces: {list(labels)!r}")
        custom_fields = dict(options.get("custom_fields") or {})
        clashing = sorted(OWN_FIELDS & custom_fields.keys())
        if clashing:
            raise problem(f"custom_fields cannot set {', '.join(clashing)}: use the destination's own keys for them")
        resolve_path = _path(options.get("resolve_transition"), DEFAULT_RESOLVE_PATH)
        return cls(
            name=spec.name,
            flavor=flavor,
            url=url.rstrip("/"),
            project=project,
            token_reference=token,
            email=email,
            issue_type=options.get("issue_type", DEFAULT_ISSUE_TYPE),
            labels=labels,
            components=tuple(options.get("components") or ()),
            priority=options.get("priority"),
            assignee=options.get("assignee"),
            custom_fields=custom_fields,
            resolve_path=resolve_path,
            close_path=_path(options.get("close_transition"), resolve_path),
            reopen_path=_path(options.get("reopen_transition"), DEFAULT_REOPEN_PATH),
            resolution=options.get("resolution", DEFAULT_RESOLUTION),
            retired_resolution=options.get("retired_resolution", DEFAULT_RETIRED_RESOLUTION),
            template_set=str(options.get("template", DEFAULT_TEMPLATE_SET)),
            timeout=float(options.get("timeout", DEFAULT_TIMEOUT)),
        )


def _path(value: str | list[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A transition name, or the names of several taken one after another."""
    if value is None:
        return default
    return (value,) if isinstance(value, str) else tuple(value)


class JiraAuth(requests.auth.AuthBase):
    """Sets Authorization on each request from the secret reference; holds no secret itself."""

    def __init__(self, settings: JiraSettings, secrets: SecretResolver) -> None:
        self.settings = settings
        self.secrets = secrets

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # names the reference only; raised through requests untouched
        token = resolve_for_delivery(
            self.secrets, self.settings.token_reference, destination=self.settings.name, what="Jira token"
        )
        if self.settings.cloud:
            pair = f"{self.settings.email}:{token}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            request.headers["Authorization"] = "Bearer " + token
        return request
