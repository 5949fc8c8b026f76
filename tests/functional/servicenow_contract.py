"""What ServiceNow's published docs allow a client to send, read from the docs themselves.

Source: tests/contracts/servicenow/ (ServiceNowDocs, Apache-2.0; see tests/contracts/README.md).

* Fields an incident has: the keys of the incident records in the Table API docs' examples.
* Query parameters per method and path form: each method's "query parameters" table in c_TableAPI.md.
* Path forms: ``/api/now/{api_version}/table/{tableName}[/{sys_id}]`` (we require v2: "Version 1 returns
  error code 404 with no results", which a client would read as "ticket deleted").
* "fields that have a prefix of sys_ are typically system parameters ... cannot be updated".
* Incident states from "Life cycle of an Incident"; closing (7) needs itil_admin or admin per
  "Resolve and close an incident", which an integration must not hold; canceling (8) is triage.
* Field sizes: the baseline dictionary (the vendored docs do not list them; the instance cuts silently).

`check_*` functions return violations as sentences; they never raise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "contracts" / "servicenow"
TABLE_API_DOC = DOCS / "c_TableAPI.md"

# The fields compliance-notifier documents that it writes (servicenow_fields.py / servicenow.py).
FIELDS_WE_WRITE = frozenset(
    {
        "correlation_id",
        "correlation_display",
        "short_description",
        "description",
        "caller_id",
        "assignment_group",
        "category",
        "subcategory",
        "impact",
        "urgency",
        "state",
        "close_code",
        "close_notes",
        "work_notes",
    }
)
FIELD_SIZES = {
    "short_description": 160,
    "correlation_id": 100,
    "correlation_display": 100,
    "description": 4000,
    "close_notes": 4000,
    "work_notes": 4000,
}
STATES_WE_MAY_WRITE = {"POST": frozenset({"1"}), "PATCH": frozenset({"1", "2", "3", "6"})}
REFERENCE_FIELDS = frozenset({"caller_id", "assignment_group"})
# XML 1.0 forbids these; the instance stores and exports records as XML.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
TABLE_PATH = re.compile(r"^/api/now(?:/(?P<version>v\d+))?/table/(?P<table>[^/]+)(?:/(?P<sys_id>[^/]+))?$")


def _doc_examples(doc: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for block in re.findall(r"```\n(.*?)```", doc, re.S):
        try:
            example = json.loads(block)
        except ValueError:
            continue  # a cURL block
        result = example.get("result")
        records.extend(result if isinstance(result, list) else [result])
    return records


def _query_parameters(doc: str) -> dict[tuple[str, bool], frozenset[str]]:
    """(method, addresses one record?) -> the sysparm_* names its docs table lists."""
    allowed: dict[tuple[str, bool], frozenset[str]] = {}
    for section in doc.split("\n## Table - ")[1:]:
        method, path = section.splitlines()[0].split(" ", 1)
        table = re.search(r'<table class="rest_api_query_parameters">(.*?)</table>', section, re.S)
        names = re.findall(r"^(sysparm\\_[a-z\\_]+)\s*$", table.group(1), re.M) if table else []
        allowed[(method, "sys" in path)] = frozenset(name.replace("\\", "") for name in names)
    return allowed


_DOC = TABLE_API_DOC.read_text(encoding="utf-8")
INCIDENT_EXAMPLES = [r for r in _doc_examples(_DOC) if r.get("sys_class_name") == "incident"]
INCIDENT_FIELDS = frozenset(key for record in INCIDENT_EXAMPLES for key in record)
QUERY_PARAMETERS = _query_parameters(_DOC)
# The docs' POST answer: a freshly created incident (never modified), the shape new records take here.
BLANK_INCIDENT: dict[str, Any] = next(dict(r) for r in INCIDENT_EXAMPLES if r.get("sys_mod_count") == "0")
assert FIELDS_WE_WRITE <= INCIDENT_FIELDS, sorted(FIELDS_WE_WRITE - INCIDENT_FIELDS)
assert QUERY_PARAMETERS[("GET", False)] >= {"sysparm_query", "sysparm_fields", "sysparm_limit"}


def check_headers(method: str, headers: Mapping[str, str], has_body: bool) -> list[str]:
    problems = []
    if "application/json" not in headers.get("Accept", ""):
        problems.append(f"{method}: Accept is {headers.get('Accept')!r}, not application/json")
    if has_body and not headers.get("Content-Type", "").startswith("application/json"):
        problems.append(f"{method}: Content-Type is {headers.get('Content-Type')!r}, not application/json")
    return problems


def check_query_parameters(method: str, one_record: bool, names: list[str]) -> list[str]:
    allowed = QUERY_PARAMETERS.get((method, one_record), frozenset())
    form = "{tableName}/{sys_id}" if one_record else "{tableName}"
    return [
        f"{method} /table/{form}: query parameter {name!r} is not in the docs" for name in names if name not in allowed
    ]


def check_field_names(where: str, names: list[str], fields: frozenset[str]) -> list[str]:
    return [f"{where}: {name!r} is not a field of this table" for name in names if name not in fields]


def check_body(method: str, body: object, current_state: str | None) -> list[str]:
    """A POST/PATCH body against the docs; `current_state` is the record's state before a PATCH."""
    if not isinstance(body, dict):
        return [f"{method}: the body is not a JSON object"]
    problems = []
    for name, value in body.items():
        if name.startswith("sys_"):
            problems.append(f"{method}: {name!r} is a system field and cannot be written")
        elif name not in FIELDS_WE_WRITE:
            problems.append(f"{method}: {name!r} is not a field compliance-notifier documents writing")
        if not isinstance(value, str):
            problems.append(f"{method}: {name!r} is {type(value).__name__}, the docs send strings")
            continue
        if len(value) > FIELD_SIZES.get(name, 40 if name in ("impact", "urgency", "state") else 4000):
            problems.append(f"{method}: {name!r} has {len(value)} characters; the instance would cut it")
        if _XML_INVALID.search(value):
            problems.append(f"{method}: {name!r} holds control characters the instance cannot store")
    state = body.get("state")
    if state is not None and state not in STATES_WE_MAY_WRITE.get(method, frozenset()):
        problems.append(f"{method}: state {state!r} may not be written by an integration (7 closes: itil_admin)")
    if current_state in ("7", "8"):
        problems.append(f"{method}: wrote to a closed/canceled incident (read-only without itil_admin)")
    return problems


def parse_query(query: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]], list[str]]:
    """An encoded query -> (conditions (field, operator, value), order (field, descending), problems)."""
    conditions: list[tuple[str, str, str]] = []
    order: list[tuple[str, bool]] = []
    problems: list[str] = []
    for part in filter(None, query.split("^")):
        if part.startswith(("OR", "NQ")) and not part.startswith("ORDERBY"):
            problems.append(f"sysparm_query {query!r}: OR queries are not supported by this fake")
        elif part.startswith("ORDERBYDESC"):
            order.append((part.removeprefix("ORDERBYDESC"), True))
        elif part.startswith("ORDERBY"):
            order.append((part.removeprefix("ORDERBY"), False))
        elif match := re.fullmatch(r"([a-z_][a-z0-9_.]*)(!=|=|IN|NOT IN|STARTSWITH|ENDSWITH|LIKE)(.*)", part, re.S):
            conditions.append((match.group(1), match.group(2), match.group(3)))
        else:
            problems.append(f"sysparm_query condition {part!r} is not <col_name><operator><value>")
    return conditions, order, problems


def matches(record: Mapping[str, Any], field: str, operator: str, value: str) -> bool:
    actual = str(record.get(field, ""))
    if operator == "=":
        return actual == value
    if operator == "!=":
        return actual != value
    if operator == "IN":
        return actual in value.split(",")
    if operator == "NOT IN":
        return actual not in value.split(",")
    if operator == "STARTSWITH":
        return actual.startswith(value)
    if operator == "ENDSWITH":
        return actual.endswith(value)
    return value in actual  # LIKE
