"""What the deployment tests read: the template and the zips `python deploy/check.py` produced.

They are never rebuilt here (building needs PyPI and npm): a missing one fails the test with the command
that makes it. CI runs deploy/check.py right before pytest (dev.py test).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / ".serverless" / "cloudformation-template-update-stack.json"
BUILD = ROOT / "deploy" / "build"
NOTIFIER_ZIP = BUILD / "notifier.zip"
RULES_ZIP = BUILD / "rules.zip"
HOW = "run `python deploy/check.py` first (dev.py test does): it builds the zips and packages the template"


def load_template() -> dict[str, Any]:
    if not TEMPLATE.exists():
        pytest.fail(f"{TEMPLATE.relative_to(ROOT)} is missing: {HOW}")
    template: dict[str, Any] = json.loads(TEMPLATE.read_text())
    return template


def open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: {HOW}")
    return zipfile.ZipFile(path)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in template["Resources"].items() if body["Type"] == kind}


def branches(value: Any) -> Iterator[Any]:
    """Every value an `Fn::If` may produce (both branches, recursively; AWS::NoValue dropped)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _condition, when_true, when_false = value["Fn::If"]
        yield from branches(when_true)
        yield from branches(when_false)
    elif value != {"Ref": "AWS::NoValue"}:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies, whichever way its conditions go."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            found.extend(branches(statement))
    return found


def actions(role: dict[str, Any]) -> set[str]:
    return {action for statement in statements(role) for action in as_list(statement.get("Action", []))}


def get_att(name: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}
