"""A fake ServiceNow instance on pytest-httpserver (127.0.0.1): incidents in memory, answers in the
shapes ServiceNow's docs show (``{"result": ...}``, ``{"error": {"message", "detail"}, "status": "failure"}``),
and every request checked against those docs (servicenow_contract.py). Violations are collected in
`violations`; the tests' fixture fails the test when any is left at teardown.

Like a real instance, a query condition on a field the table does not have is IGNORED (the rest of the
query still applies), and so are unknown names in sysparm_fields. The checker still records them.

Scripted trouble, for the next Table API request(s): `fail_next("rate_limited" | "server_error" |
"unauthorized" | "forbidden" | "bad_request" | "not_found" | "hibernating" | "slow")`; `go_down()` stops
the server (connection refused); `expire_tokens()` revokes every OAuth token issued so far.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
import uuid
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.functional import servicenow_contract as contract

TOKEN_PATH = "/oauth_token.do"
HIBERNATING_PAGE = (
    "<!DOCTYPE html><html><head><title>Instance Hibernating page</title></head>"
    "<body><h1>Your instance is hibernating</h1><p>Sign in to wake it up.</p></body></html>"
)
# Error bodies in ServiceNow's shape; the rate limit one is the docs' own (inbound-REST-API-rate-limiting.md).
_CANNED: dict[str, tuple[int, str, str]] = {
    "rate_limited": (429, "Rate limit exceeded", "Rate limit of 100 requests per hour for Table API exceeded"),
    "server_error": (500, "Internal server error", "Transaction cancelled: maximum execution time exceeded"),
    "unauthorized": (401, "User Not Authenticated", "Required to provide Auth information"),
    "forbidden": (403, "Operation Failed", "ACL Exception Update Failed due to security constraints"),
    "bad_request": (400, "Exception while reading request", "Cannot decode: java.io.StringReader@4fd2"),
    "not_found": (404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"),
}


class _QuickServer(HTTPServer):
    """pytest-httpserver polls for shutdown every 0.5 s; a short poll keeps one server per test cheap."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.01)


def failure(status: int, message: str, detail: str | None) -> Response:
    body = {"error": {"message": message, "detail": detail}, "status": "failure"}
    return Response(json.dumps(body), status=status, content_type="application/json")


def canned(kind: str) -> Response:
    return failure(*_CANNED[kind])


def _fresh_incident() -> dict[str, Any]:
    """The docs' newly created incident, minus what belongs to that example (its group, its links)."""
    record = {k: (v["value"] if isinstance(v, dict) else v) for k, v in contract.BLANK_INCIDENT.items()}
    return {**record, "assignment_group": "", "caller_id": "", "category": "", "sys_mod_count": "-1"}


class ServiceNowFake:
    def __init__(
        self,
        *,
        table: str = "incident",
        basic: tuple[str, str] | None = ("integration", "s3cret-basic"),
        client: tuple[str, str] | None = None,
        token_lifetime: int = 1799,
    ) -> None:
        self.table = table
        self.basic = basic
        self.client = client
        self.token_lifetime = token_lifetime
        self.incidents: dict[str, dict[str, Any]] = {}  # sys_id -> record, every value as the docs show it
        self.journal: dict[str, list[str]] = {}  # sys_id -> work notes, oldest first
        self.seen: list[tuple[str, str, dict[str, str], Any]] = []  # method, path, query, JSON body
        self.violations: list[str] = []
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.slow_seconds = 0.5
        self._failures: list[str] = []
        self._numbers = itertools.count(10001)
        self._clock = itertools.count(1)
        self.server = _QuickServer("127.0.0.1", 0)

    # -- lifecycle and scripting ----------------------------------------------------------------------

    def start(self) -> ServiceNowFake:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        self.server.start()
        return self

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def go_down(self) -> None:
        if self.server.is_running():
            self.server.stop()

    def fail_next(self, kind: str, times: int = 1) -> None:
        assert kind in {*_CANNED, "hibernating", "slow"}, kind
        self._failures.extend([kind] * times)

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def take_violations(self) -> list[str]:
        taken, self.violations = self.violations, []
        return taken

    def add_incident(self, **fields: str) -> dict[str, Any]:
        """An incident created by someone else (a person, another tool)."""
        return self._insert(fields)

    def set_state(self, sys_id: str, state: str, **fields: str) -> None:
        """What a person does in the UI (resolve, close, cancel): no checks apply to them."""
        self.incidents[sys_id].update(state=state, incident_state=state, active=str(state in ("1", "2", "3")).lower())
        self.incidents[sys_id].update(fields)

    def delete(self, sys_id: str) -> None:
        del self.incidents[sys_id]

    def requests_to(self, method: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [seen for seen in self.seen if seen[0] == method]

    # -- the instance -----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        body = request.get_json(silent=True) if request.method in ("POST", "PATCH", "PUT") else None
        self.seen.append((request.method, request.path, dict(request.args), body))
        if request.path == TOKEN_PATH:
            return self._token(request)
        route = contract.TABLE_PATH.match(request.path)
        if route is None:
            self.violations.append(f"{request.method} {request.path}: not a Table API path")
            return failure(400, "Requested URI does not represent any resource", None)
        if self._failures:
            scripted = self._scripted(self._failures.pop(0))
            if scripted is not None:
                return scripted
        if not self._authorized(request.headers.get("Authorization", "")):
            return canned("unauthorized")
        return self._table_api(request, route, body)

    def _scripted(self, kind: str) -> Response | None:
        if kind == "slow":
            time.sleep(self.slow_seconds)
            return None  # then answer normally, too late for the client
        if kind == "hibernating":
            return Response(HIBERNATING_PAGE, status=200, content_type="text/html;charset=UTF-8")
        response = canned(kind)
        if kind == "rate_limited":
            response.headers.update(
                {
                    "Retry-After": "7",
                    "X-RateLimit-Limit": "100",
                    "X-RateLimit-Reset": str(int(time.time()) + 7),
                    "X-RateLimit-Rule": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                }
            )
        return response

    def _authorized(self, header: str) -> bool:
        scheme, _, credentials = header.partition(" ")
        if scheme == "Basic" and self.basic is not None:
            return base64.b64decode(credentials).decode() == ":".join(self.basic)
        return scheme == "Bearer" and credentials in self.tokens

    def _token(self, request: Request) -> Response:
        if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
            self.violations.append(f"{request.method} {TOKEN_PATH} with {request.mimetype!r}: the docs POST a form")
        if request.form.get("grant_type") != "client_credentials":
            self.violations.append(f"{TOKEN_PATH}: grant_type {request.form.get('grant_type')!r}")
        if self.client is None or (request.form.get("client_id"), request.form.get("client_secret")) != self.client:
            body = {"error_description": "access_denied", "error": "server_error"}
            return Response(json.dumps(body), status=401, content_type="application/json")
        self.tokens_issued += 1
        token = f"token-{self.tokens_issued}-{uuid.uuid4().hex}"
        self.tokens.add(token)
        answer = {
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "access_token": token,
        }
        return Response(json.dumps(answer), status=200, content_type="application/json")

    def _table_api(self, request: Request, route: re.Match[str], body: Any) -> Response:
        method, table, sys_id = request.method, route["table"], route["sys_id"]
        self.violations += contract.check_headers(method, dict(request.headers), has_body=method in ("POST", "PATCH"))
        self.violations += contract.check_query_parameters(method, sys_id is not None, list(request.args))
        if route["version"] != "v2":
            self.violations.append(f"{request.path}: use /api/now/v2 (v1 answers an empty query with 404)")
        if table != self.table:
            return failure(400, f"Invalid table {table}", None)
        fields_asked = [f for f in request.args.get("sysparm_fields", "").split(",") if f]
        self.violations += contract.check_field_names("sysparm_fields", fields_asked, contract.INCIDENT_FIELDS)
        links = request.args.get("sysparm_exclude_reference_link") != "true"
        if sys_id is None and method == "GET":
            return self._list(request.args, fields_asked, links)
        if sys_id is None and method == "POST":
            self.violations += contract.check_body(method, body, None)
            record = self._insert(body if isinstance(body, dict) else {})
            response = self._answer(record, fields_asked, links, status=201)
            response.headers["Location"] = f"{self.url}/api/now/v2/table/{table}/{record['sys_id']}"
            return response
        existing = self.incidents.get(sys_id or "")
        if sys_id is not None and method == "GET":
            return self._answer(existing, fields_asked, links) if existing else canned("not_found")
        if sys_id is not None and method == "PATCH":
            return self._patch(existing, body, fields_asked) if existing else canned("not_found")
        self.violations.append(f"{method} {request.path}: compliance-notifier never {method}s incidents")
        return failure(405, "Method not Supported", f"{method} is not supported here")

    def _list(self, args: Any, fields: list[str], links: bool) -> Response:
        conditions, order, problems = contract.parse_query(args.get("sysparm_query", ""))
        self.violations += problems
        names = [condition[0] for condition in conditions]
        self.violations += contract.check_field_names("sysparm_query", names, contract.INCIDENT_FIELDS)
        known = [c for c in conditions if c[0] in contract.INCIDENT_FIELDS]  # the rest is ignored, as on an instance
        rows = [r for r in self.incidents.values() if all(contract.matches(r, *c) for c in known)]
        for field, descending in reversed(order):  # stable sorts, last key first
            rows.sort(key=lambda row: str(row.get(field, "")), reverse=descending)
        offset, limit = int(args.get("sysparm_offset", 0)), int(args.get("sysparm_limit", 10000))
        page = [self._shape(r, fields, links) for r in rows[offset : offset + limit]]
        return Response(json.dumps({"result": page}), status=200, content_type="application/json",
                        headers={"X-Total-Count": str(len(rows))})  # fmt: skip

    def _patch(self, record: dict[str, Any], body: Any, fields: list[str]) -> Response:
        self.violations += contract.check_body("PATCH", body, record["state"])
        if not isinstance(body, dict):
            return failure(400, "Exception while reading request", "not a JSON object")
        if record["state"] in ("7", "8") or body.get("state") in ("7", "8"):
            return failure(403, "Operation Failed", "ACL Exception Update Failed due to security constraints")
        merged = {**record, **body}
        if body.get("state") == "6" and not (merged.get("close_code") and merged.get("close_notes")):
            self.violations.append("PATCH state 6 without close_code and close_notes (a data policy rejects it)")
            detail = "Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes"
            return failure(403, "Operation Failed", detail)
        self._apply(record, body)
        return self._answer(record, fields, links=True)

    def _insert(self, body: dict[str, Any]) -> dict[str, Any]:
        record, tick = _fresh_incident(), next(self._clock)
        record.update(sys_id=uuid.uuid4().hex, number=f"INC{next(self._numbers):07d}")
        record["sys_created_on"] = f"2026-01-01 {tick // 3600:02d}:{tick // 60 % 60:02d}:{tick % 60:02d}"
        self.incidents[record["sys_id"]] = record
        self.journal[record["sys_id"]] = []
        self._apply(record, {"state": "1", **body})
        return record

    def _apply(self, record: dict[str, Any], body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name not in contract.INCIDENT_FIELDS or name.startswith("sys_"):
                continue  # ignored by an instance too
            if name == "work_notes":  # a journal field: appended to the history, read back empty
                self.journal[record["sys_id"]].append(str(value))
                continue
            record[name] = str(value)[: contract.FIELD_SIZES.get(name, 4000)]  # the instance cuts silently
        if body.get("state") == "2" and record.get("resolved_at"):
            record.update(reopen_count=str(int(record.get("reopen_count") or 0) + 1), resolved_at="")
        if body.get("state") == "6":
            record["resolved_at"] = "2026-01-02 00:00:00"
        record.update(incident_state=record["state"], active=str(record["state"] in ("1", "2", "3")).lower())
        record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)

    def _answer(self, record: dict[str, Any], fields: list[str], links: bool, status: int = 200) -> Response:
        body = {"result": self._shape(record, fields, links)}
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _shape(self, record: dict[str, Any], fields: list[str], links: bool) -> dict[str, Any]:
        wanted = [f for f in fields if f in record] or list(record)  # unknown names ignored, none: all
        shaped: dict[str, Any] = {}
        for name in wanted:
            value = record[name]
            if name in contract.REFERENCE_FIELDS and value and links:
                kind = "sys_user" if name == "caller_id" else "sys_user_group"
                value = {"link": f"{self.url}/api/now/table/{kind}/{value}", "value": value}
            shaped[name] = value
        return shaped
