"""What Jira answers a dry run (`dry_run: true`), in the shapes of the REST API's real answers (the tests
check them against the vendored OpenAPI contracts), so `JiraDestination` runs its real code unchanged and
every request it would make is recorded (destinations/recording.py):

    POST /search/jql (Cloud), /search (DC)   no open issue carries the label: the flow goes on to create
    POST /issue                              201 {"id": "0", "key": "<PROJECT>-DRYRUN"}
    GET  /issue/{id}                         an open issue ("To Do", category "new"), no resolution
    GET  /issue/{id}/comment                 no comments yet
    POST /issue/{id}/comment                 201, the comment
    GET  /issue/{id}/transitions             every transition the config names (resolve, close, reopen),
                                             without a screen: no resolution field is asked for
    POST /issue/{id}/transitions             204

So a dry run of a resolution records GET issue, comment, and each transition hop; the real Jira may
differ where only it knows (a person's edits, a transition screen that asks for a resolution).
"""

from __future__ import annotations

import re
from typing import Any

from .jira_settings import JiraSettings

DRY_RUN_ISSUE_ID = "0"
_ROUTE = re.compile(
    r"/rest/api/[23]/(?P<what>search(?:/jql)?|issue(?:/(?P<id>[^/]+)(?P<sub>/comment|/transitions)?)?)$"
)


class JiraDryRunAnswers:
    """The `Answer` of a Jira destination's recording transport."""

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self.key = f"{settings.project}-DRYRUN"
        names = (*settings.resolve_path, *settings.close_path, *settings.reopen_path)
        self.transitions = [
            {"id": str(number), "name": name, "to": {"id": str(number), "name": name}}
            for number, name in enumerate(dict.fromkeys(names), start=1)
        ]

    def __call__(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        match = _ROUTE.search(path)
        if match is None:
            return 200, {}
        what, issue, sub = match["what"], match["id"], match["sub"]
        if what.startswith("search"):
            if self.settings.cloud:
                return 200, {"issues": [], "isLast": True}
            return 200, {"startAt": 0, "maxResults": 10, "total": 0, "issues": []}
        if issue is None:  # POST /issue
            return 201, {"id": DRY_RUN_ISSUE_ID, "key": self.key, "self": self._self(DRY_RUN_ISSUE_ID)}
        if sub == "/comment":
            if method == "POST":
                return 201, {"id": "0", "body": (body or {}).get("body"), "self": f"{self._self(issue)}/comment/0"}
            return 200, {"comments": [], "startAt": 0, "maxResults": 1, "total": 0}
        if sub == "/transitions":
            return (204, None) if method == "POST" else (200, {"transitions": self.transitions})
        status = {"name": "To Do", "statusCategory": {"key": "new", "name": "To Do"}}
        fields = {"status": status, "resolution": None}
        return 200, {"id": issue, "key": self.key, "self": self._self(issue), "fields": fields}

    def _self(self, issue: str) -> str:
        api = "/rest/api/3" if self.settings.cloud else "/rest/api/2"
        return f"{self.settings.url}{api}/issue/{issue}"
