"""A fake Jira (Cloud or Data Center) on a real HTTP server (pytest-httpserver, 127.0.0.1).

It keeps issues, comments, statuses and resolutions in memory and offers the transitions of a simple
workflow (To Do → In Progress → Done, Done → Reopen → To Do). Every request is first checked against
the vendor's contract (`jira_contract`): method + path must be an operation of the OpenAPI document,
query parameters must be declared, the JSON body must validate against the operation's request schema
and, on Cloud, every description and comment must be a valid ADF document. Violations are recorded
(the test fixture asserts there are none at teardown) and answered with 400, as Jira would.

Answers are shaped like the specs' examples and are themselves checked against the response schemas,
so the fake cannot drift into answering what real Jira never would.

Failure modes on demand: `fail_next` (429 + Retry-After, 5xx, 401, 400 with errorMessages/errors),
`delay_next` (a timeout), `delete` (404 for an issue deleted by hand), a wrong token (401).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.functional.jira_contract import Contract, adf_problems, cloud_contract, dc_contract, parse_json
from tests.functional.jira_fake_model import (
    COMPONENTS,
    ISSUE_TYPES,
    MAX_TEXT,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    FakeIssue,
    Workflow,
    issue_json,
    text_size,
    transitions_json,
)

TOKEN = "s3cr3t-t0ken-value"
EMAIL = "bot@example.com"
PROJECT = "SEC"
_JQL = re.compile(
    r'^project = "(?P<project>[^"\\]+)" AND labels = "(?P<label>[^"\\]+)" AND statusCategory != Done'
    r"(?: ORDER BY created ASC)?$"
)


@dataclass
class Failure:
    status: int
    body: Any
    headers: Mapping[str, str]
    path_contains: str | None


class FakeJira:
    def __init__(self, server: HTTPServer, *, flavor: str, workflow: Workflow | None = None) -> None:
        self.server = server
        self.flavor = flavor
        self.cloud = flavor == "cloud"
        self.contract: Contract = cloud_contract() if self.cloud else dc_contract()
        self.workflow = workflow or Workflow()
        self.issues: dict[str, FakeIssue] = {}  # by id
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body) of every request received
        self.auth_headers: list[str] = []
        self._ids = itertools.count(10000)
        self._comment_ids = itertools.count(20000)
        self._failures: list[Failure] = []
        self._delay = 0.0
        server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    # -- steering the fake -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def fail_next(
        self,
        status: int,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        path_contains: str | None = None,
    ) -> None:
        for _ in range(times):
            self._failures.append(Failure(status, body, headers or {}, path_contains))

    def delay_next(self, seconds: float) -> None:
        self._delay = seconds

    def delete(self, key: str) -> None:
        del self.issues[self.by_key(key).id]

    def by_key(self, key: str) -> FakeIssue:
        return next(issue for issue in self.issues.values() if issue.key == key)

    def calls(self, method: str, suffix: str = "") -> list[tuple[str, str, Any]]:
        return [call for call in self.requests if call[0] == method and call[1].endswith(suffix)]

    # -- the HTTP side -----------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        raw = request.get_data()
        body = parse_json(raw)
        query = {name: request.args.getlist(name) for name in request.args}
        self.requests.append((request.method, request.path, body))
        problems = self.contract.check(request.method, request.path, query, body, raw)
        if raw and "application/json" not in (request.content_type or ""):
            problems.append(f"{request.method} {request.path}: Content-Type is {request.content_type!r}")
        problems.extend(self._markup_problems(request.method, request.path, body))
        if problems:
            self.violations.extend(problems)
            return self._json(400, {"errorMessages": problems, "errors": {}})
        if self._delay:
            delay, self._delay = self._delay, 0.0
            time.sleep(delay)
        if not self._authorized(request.headers.get("Authorization", "")):
            return self._json(401, {"errorMessages": ["You are not authenticated. Authentication required."]})
        failure = self._next_failure(request.path)
        if failure is not None:
            return self._json(failure.status, failure.body, failure.headers)
        status, answer = self._route(request.method, request.path, body, query)
        if 200 <= status < 300:
            self.violations.extend(self.contract.check_answer(request.method, request.path, status, answer))
        return self._json(status, answer)

    def _authorized(self, header: str) -> bool:
        self.auth_headers.append(header)
        if self.cloud:
            expected = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
        else:
            expected = f"Bearer {TOKEN}"
        return header == expected

    def _next_failure(self, path: str) -> Failure | None:
        for index, failure in enumerate(self._failures):
            if failure.path_contains is None or failure.path_contains in path:
                return self._failures.pop(index)
        return None

    def _markup_problems(self, method: str, path: str, body: Any) -> list[str]:
        """Cloud: descriptions and comments are ADF documents. DC: they are wiki-markup strings."""
        if not isinstance(body, dict) or method not in ("POST", "PUT"):
            return []
        texts: list[tuple[str, Any]] = []
        fields: dict[str, Any] = body["fields"] if isinstance(body.get("fields"), dict) else {}
        for name in ("description", "environment"):
            if name in fields:
                texts.append((f"fields.{name}", fields[name]))
        if path.endswith("/comment"):
            texts.append(("comment body", body.get("body")))
        for index, operation in enumerate((body.get("update") or {}).get("comment") or []):
            texts.append((f"update.comment[{index}]", (operation.get("add") or {}).get("body")))
        problems = []
        for where, value in texts:
            if self.cloud:
                problems.extend(adf_problems(f"{method} {path} {where}", value))
            elif not isinstance(value, str):
                problems.append(f"{method} {path} {where}: Data Center takes wiki markup (a string)")
        return problems

    def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        if body is None:
            return Response(status=status, headers=dict(headers or {}))
        return Response(json.dumps(body), status=status, headers=dict(headers or {}), content_type="application/json")

    def _route(self, method: str, path: str, body: Any, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        api = "/rest/api/3" if self.cloud else "/rest/api/2"
        rest = path[len(api) :] if path.startswith(api) else path
        if method == "POST" and rest == "/issue":
            return self._create(body)
        if method == "POST" and rest in ("/search/jql", "/search"):
            return self._search(body)
        match = re.fullmatch(r"/issue/([^/]+)(/comment|/transitions)?", rest)
        if match is None:
            return 404, {"errorMessages": [f"the fake does not serve {method} {path}"], "errors": {}}
        issue = self._find(match.group(1))
        if issue is None:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}
        tail = match.group(2)
        if method == "GET" and tail is None:
            return 200, issue_json(issue, self.url)
        if method == "POST" and tail == "/comment":
            return self._comment(issue, body)
        if method == "GET" and tail == "/comment":
            return 200, self._comments_page(issue, query)
        if method == "GET" and tail == "/transitions":
            return 200, {
                "transitions": transitions_json(
                    self.workflow, issue, cloud=self.cloud, with_fields="transitions.fields" in query.get("expand", [])
                )
            }
        if method == "POST" and tail == "/transitions":
            return self._transition(issue, body)
        return 404, {"errorMessages": [f"the fake does not serve {method} {path}"], "errors": {}}

    def _find(self, id_or_key: str) -> FakeIssue | None:
        return self.issues.get(id_or_key) or next((i for i in self.issues.values() if i.key == id_or_key), None)

    # -- Jira's behaviour --------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        fields = body.get("fields") or {}
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") != PROJECT:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "valid issue type is required"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary.encode("utf-16-le")) // 2 > 255 or "\n" in summary or "\r" in summary:
            errors["summary"] = "Summary must be less than 255 characters and a single line."
        if text_size(fields.get("description")) > MAX_TEXT:
            errors["description"] = f"The entered text is too long. It exceeds the allowed limit of {MAX_TEXT}."
        if any(not isinstance(label, str) or " " in label for label in fields.get("labels") or []):
            errors["labels"] = "The label must not contain spaces."
        if any(c.get("name") not in COMPONENTS for c in fields.get("components") or []):
            errors["components"] = "Component name is not valid."
        priority = fields.get("priority")
        if priority is not None and priority.get("name") not in PRIORITIES and "id" not in priority:
            errors["priority"] = f"Specify the Priority (name) in the string format: {priority!r} is not valid."
        if errors:
            return 400, {"errorMessages": [], "errors": errors}
        number = next(self._ids)
        issue = FakeIssue(str(number), f"{PROJECT}-{number - 9999}", fields)
        self.issues[issue.id] = issue
        return 201, {"id": issue.id, "key": issue.key, "self": f"{self.url}/rest/api/2/issue/{issue.id}"}

    def _comment(self, issue: FakeIssue, body: dict[str, Any]) -> tuple[int, Any]:
        if text_size(body.get("body")) > MAX_TEXT:
            return 400, {"errorMessages": [], "errors": {"comment": "The entered text is too long."}}
        issue.comments.append(body["body"])
        comment_id = str(next(self._comment_ids))
        return 201, {
            "id": comment_id,
            "self": f"{self.url}/rest/api/2/issue/{issue.id}/comment/{comment_id}",
            "body": body["body"],
            "created": "2024-01-02T03:04:05.000+0000",
            "updated": "2024-01-02T03:04:05.000+0000",
        }

    def _comments_page(self, issue: FakeIssue, query: Mapping[str, list[str]]) -> dict[str, Any]:
        """GET .../comment (PageOfComments), honouring orderBy=-created and maxResults like Jira."""
        newest_first = query.get("orderBy", [""])[0] in ("-created", "-created_date")
        bodies = list(reversed(issue.comments)) if newest_first else list(issue.comments)
        limit = int(query.get("maxResults", ["50"])[0])
        shown = [
            {
                "id": str(20000 + index),
                "self": f"{self.url}/rest/api/2/issue/{issue.id}/comment/{20000 + index}",
                "body": comment,
                "created": "2024-01-02T03:04:05.000+0000",
                "updated": "2024-01-02T03:04:05.000+0000",
            }
            for index, comment in enumerate(bodies[:limit])
        ]
        return {"startAt": 0, "maxResults": limit, "total": len(bodies), "comments": shown}

    def _transition(self, issue: FakeIssue, body: dict[str, Any]) -> tuple[int, Any]:
        wanted = str((body.get("transition") or {}).get("id"))
        offered = {tid: (name, to) for tid, name, to in self.workflow.offered(issue.status)}
        if wanted not in offered:
            return 400, {"errorMessages": [f"Transition id '{wanted}' is not valid for this issue."], "errors": {}}
        name, to = offered[wanted]
        resolution = ((body.get("fields") or {}).get("resolution") or {}).get("name")
        if resolution is not None:
            if not self.workflow.has_resolution_screen(name):
                message = "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown."
                return 400, {"errorMessages": [], "errors": {"resolution": message}}
            if resolution not in RESOLUTIONS:
                return 400, {"errorMessages": [], "errors": {"resolution": f"Resolution '{resolution}' is not valid."}}
        issue.status = to
        issue.transitions.append(name)
        if STATUSES[to][0] == "done":
            issue.resolution = resolution or "Done"  # the workflow's post-function, when the screen has no field
        else:
            issue.resolution = None
        return 204, None

    def _search(self, body: dict[str, Any]) -> tuple[int, Any]:
        match = _JQL.match(body.get("jql", ""))
        if match is None:
            return 400, {"errorMessages": [f"Error in the JQL Query: the fake does not know {body.get('jql')!r}"]}
        found = [
            issue
            for issue in sorted(self.issues.values(), key=lambda i: int(i.id))
            if match["label"] in (issue.fields.get("labels") or [])
            and issue.fields["project"]["key"] == match["project"]
            and STATUSES[issue.status][0] != "done"
        ]
        issues = [issue_json(issue, self.url) for issue in found[: int(body.get("maxResults", 50))]]
        if self.cloud:
            return 200, {"issues": issues, "isLast": True}
        return 200, {"startAt": 0, "maxResults": body.get("maxResults", 50), "total": len(found), "issues": issues}
