"""What the fake Jira knows: its workflow, its issues, and the JSON shapes it answers with.

Shapes follow the examples in Atlassian's specs (status with its statusCategory, transitions with `to`
and, when `expand=transitions.fields` is asked for, the fields of their screens); `jira_fake` checks
each answer against the operation's response schema too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RESOLUTIONS = ("Done", "Won't Do", "Won't Fix", "Duplicate")
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
ISSUE_TYPES = ("Task", "Bug")
COMPONENTS = ("aws", "iam")
MAX_TEXT = 32_767

# status -> (category key, category name, category id, colour)
STATUSES = {
    "To Do": ("new", "To Do", 2, "blue-gray"),
    "In Progress": ("indeterminate", "In Progress", 4, "yellow"),
    "Done": ("done", "Done", 3, "green"),
}


@dataclass(frozen=True)
class Workflow:
    """Which transitions are offered from which status; `direct_done=False` forces To Do → In Progress → Done."""

    direct_done: bool = True
    resolution_on_screen: bool = True  # the Done transition's screen has the Resolution field

    def offered(self, status: str) -> list[tuple[str, str, str]]:
        """(id, name, target status) of each transition offered from `status`."""
        transitions = [
            ("11", "Start Progress", "In Progress", {"To Do"}),
            ("21", "Stop Progress", "To Do", {"In Progress"}),
            ("31", "Done", "Done", {"To Do", "In Progress"} if self.direct_done else {"In Progress"}),
            ("41", "Reopen", "To Do", {"Done"}),
        ]
        return [(tid, name, to) for tid, name, to, sources in transitions if status in sources]

    def has_resolution_screen(self, transition: str) -> bool:
        return transition == "Done" and self.resolution_on_screen


@dataclass
class FakeIssue:
    id: str
    key: str
    fields: dict[str, Any]  # as created
    status: str = "To Do"
    resolution: str | None = None
    comments: list[Any] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)  # names taken, in order


def _status_json(status: str) -> dict[str, Any]:
    category, category_name, category_id, colour = STATUSES[status]
    return {
        "name": status,
        "id": str(category_id),
        "statusCategory": {"key": category, "name": category_name, "id": category_id, "colorName": colour},
    }


def issue_json(issue: FakeIssue, base_url: str) -> dict[str, Any]:
    return {
        "id": issue.id,
        "key": issue.key,
        "self": f"{base_url}/rest/api/2/issue/{issue.id}",
        "fields": {
            "status": _status_json(issue.status),
            "resolution": {"name": issue.resolution, "id": "1"} if issue.resolution else None,
        },
    }


def transitions_json(workflow: Workflow, issue: FakeIssue, *, cloud: bool, with_fields: bool) -> list[dict[str, Any]]:
    answer = []
    for tid, name, to in workflow.offered(issue.status):
        transition: dict[str, Any] = {"id": tid, "name": name, "to": _status_json(to)}
        if cloud:
            transition.update(hasScreen=workflow.has_resolution_screen(name), isAvailable=True, isGlobal=False)
        if with_fields:  # real Jira lists a screen's fields only when asked to
            transition["fields"] = _screen(workflow, name, cloud=cloud)
        answer.append(transition)
    return answer


def _screen(workflow: Workflow, transition: str, *, cloud: bool) -> dict[str, Any]:
    if not workflow.has_resolution_screen(transition):
        return {}
    field_meta: dict[str, Any] = {
        "required": True,
        "name": "Resolution",
        "operations": ["set"],
        "schema": {"type": "resolution", "system": "resolution"},
        "allowedValues": [{"id": str(i), "name": name} for i, name in enumerate(RESOLUTIONS, 1)],
        "hasDefaultValue": False,
    }
    field_meta["key" if cloud else "fieldId"] = "resolution"  # Cloud's FieldMetadata vs DC's FieldMetaBean
    return {"resolution": field_meta}


def text_size(text: Any) -> int:
    """Jira's length of a text field: the string, or the stored JSON of an ADF document (UTF-16 units)."""
    if text is None:
        return 0
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, separators=(",", ":"))
    return len(value.encode("utf-16-le")) // 2
