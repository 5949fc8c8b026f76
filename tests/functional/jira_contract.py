"""Jira's published contracts as request checkers: the OpenAPI operation, its body schema, and ADF.

* Cloud: ``tests/contracts/jira-cloud/platform-v3.subset.json`` (paths are full: ``/rest/api/3/...``).
* Data Center: ``../shared/contracts/jira-dc/software-dc-10.3.subset.json`` beside the checkout (paths are
  ``/api/2/...`` under the server URL ``/rest``). It carries no licence, so it is never copied into this
  repository; without it the DC tests fail and say where it must be.
* ADF: ``tests/contracts/adf/full.json`` (JSON Schema draft-04), for every Cloud description and comment.
  jsonschema's Draft4Validator takes ~150 ms per document on this schema (deep anyOf), so jsonschema-rs
  (also draft 4, the project's hot-path validator) answers valid/invalid and jsonschema explains a failure;
  test_jira_cloud checks that both agree on the documents the channel sends.

OpenAPI 3.0 schemas are draft-04 dialect plus a few keywords; `nullable` is translated, `example` and
`readOnly` are ignored. The vendors' known defects (see ``tests/contracts/README.md``) are relaxed in one
named place each, so nothing else is loosened by accident.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from jsonschema import Draft4Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = REPO_ROOT / "tests" / "contracts"
CLOUD_SPEC = CONTRACTS / "jira-cloud" / "platform-v3.subset.json"
ADF_SCHEMA = CONTRACTS / "adf" / "full.json"
DC_SPEC = REPO_ROOT.parent / "shared" / "contracts" / "jira-dc" / "software-dc-10.3.subset.json"

_METHODS = ("get", "put", "post", "delete", "patch")


def _nullable_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` means null is allowed too; JSON Schema spells that in `type`."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _relax_dc(components: dict[str, Any]) -> None:
    # Known DC defect: the values of IssueUpdateBean.fields (requests) and IssueBean.fields (answers) are
    # declared `type: object`, so even {"summary": "text"} or {"resolution": null} would fail. Real Jira
    # takes and gives strings, lists, objects and null there.
    for schema in ("IssueUpdateBean", "IssueBean"):
        components["schemas"][schema]["properties"]["fields"]["additionalProperties"] = {}


@dataclass
class Operation:
    method: str
    template: str  # the spec's path, e.g. /rest/api/3/issue/{issueIdOrKey}
    pattern: re.Pattern[str]
    spec: dict[str, Any]
    body: Draft4Validator | None
    responses: dict[str, Draft4Validator] = field(default_factory=dict)

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.spec.get("parameters", []) if p.get("in") == "query"}


class Contract:
    """One OpenAPI document's operations, ready to check requests (and the fake's own answers)."""

    def __init__(self, document: dict[str, Any], *, prefix: str, relax: Callable[[dict[str, Any]], None] | None):
        components = _nullable_to_json_schema(copy.deepcopy(document.get("components", {})))
        if relax is not None:
            relax(components)
        self.operations: list[Operation] = []
        for path, item in document["paths"].items():
            full = prefix + path
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(full)) + "$")
            for method in _METHODS:
                op = item.get(method)
                if op is None:
                    continue
                schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
                body = self._validator(schema, components) if schema else None
                responses = {
                    status: self._validator(content["schema"], components)
                    for status, answer in op.get("responses", {}).items()
                    for media, content in (answer.get("content") or {}).items()
                    if media == "application/json" and content.get("schema")
                }
                self.operations.append(Operation(method.upper(), full, regex, op, body, responses))

    @staticmethod
    def _validator(schema: dict[str, Any], components: dict[str, Any]) -> Draft4Validator:
        translated = _nullable_to_json_schema(schema)
        return Draft4Validator({"allOf": [translated], "components": components})

    def find(self, method: str, path: str) -> Operation | None:
        return next((op for op in self.operations if op.method == method and op.pattern.match(path)), None)

    def check(self, method: str, path: str, query: Mapping[str, list[str]], body: Any, raw: bytes) -> list[str]:
        """Everything wrong with one request, as sentences ([] when it is what the contract allows)."""
        operation = self.find(method, path)
        if operation is None:
            return [f"{method} {path} is not an operation of the contract"]
        what = f"{method} {operation.template}"
        problems: list[str] = []
        if operation.spec.get("deprecated"):
            problems.append(f"{what} is deprecated: {operation.spec.get('summary', '')}")
        problems.extend(_check_query(what, operation, query))
        required = bool((operation.spec.get("requestBody") or {}).get("required"))
        if raw and body is _NOT_JSON:
            problems.append(f"{what}: the body is not JSON")
        elif not raw and required:
            problems.append(f"{what}: the request body is required")
        elif raw and operation.body is None:
            problems.append(f"{what} takes no request body")
        elif raw and operation.body is not None:
            for error in sorted(operation.body.iter_errors(body), key=lambda e: list(e.path)):
                location = "/".join(str(part) for part in error.path) or "(body)"
                problems.append(f"{what}: {location}: {error.message[:300]}")
        return problems

    def check_answer(self, method: str, path: str, status: int, body: Any) -> list[str]:
        operation = self.find(method, path)
        validator = operation.responses.get(str(status)) if operation else None
        if validator is None or body is None:
            return []
        return [f"fake's answer to {method} {path}: {e.message[:300]}" for e in validator.iter_errors(body)]


_NOT_JSON = object()


def _check_query(what: str, operation: Operation, query: Mapping[str, list[str]]) -> list[str]:
    declared = operation.parameters
    problems = []
    for name, values in query.items():
        parameter = declared.get(name)
        if parameter is None:
            # DC's GET transitions documents `expand=transitions.fields` only in its description.
            if name == "expand" and "expand=" in operation.spec.get("description", ""):
                continue
            problems.append(f"{what}: unknown query parameter {name!r} (declared: {', '.join(declared) or 'none'})")
            continue
        kind = (parameter.get("schema") or {}).get("type")
        for value in values:
            if kind == "integer" and not re.fullmatch(r"-?\d+", value):
                problems.append(f"{what}: query parameter {name}={value!r} is not an integer")
            if kind == "boolean" and value not in ("true", "false"):
                problems.append(f"{what}: query parameter {name}={value!r} is not a boolean")
    return problems


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _NOT_JSON


@functools.cache
def cloud_contract() -> Contract:
    return Contract(json.loads(CLOUD_SPEC.read_text(encoding="utf-8")), prefix="", relax=None)


@functools.cache
def dc_contract() -> Contract:
    if not DC_SPEC.is_file():
        pytest.fail(
            f"The Jira Data Center contract is missing: {DC_SPEC}. It carries no licence, so it is not in this "
            "repository; lay the shared/ folder beside the checkout (../shared/contracts/jira-dc/).",
            pytrace=False,
        )
    return Contract(json.loads(DC_SPEC.read_text(encoding="utf-8")), prefix="/rest", relax=_relax_dc)


@functools.cache
def adf_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(ADF_SCHEMA.read_text(encoding="utf-8"))
    return schema


@functools.cache
def adf_validator() -> Draft4Validator:
    return Draft4Validator(adf_schema())


@functools.cache
def _fast_adf_validator() -> Any:
    return jsonschema_rs.Draft4Validator(adf_schema())


def adf_problems(where: str, document: Any) -> list[str]:
    if not isinstance(document, dict):
        return [f"{where} must be an ADF document on Cloud, not {type(document).__name__}"]
    if _fast_adf_validator().is_valid(document):
        return []
    errors = sorted(adf_validator().iter_errors(document), key=lambda e: list(e.path))
    if not errors:
        return [f"{where}: jsonschema-rs and jsonschema disagree on this ADF document: {json.dumps(document)[:300]}"]
    return [f"{where}: ADF: {'/'.join(map(str, e.path)) or '(doc)'}: {e.message[:300]}" for e in errors]
