"""Roles against the code they run: every IAM and Config operation a rule's modules name is granted to
its role, and nothing else of IAM or Config is; every DynamoDB operation the state store names is granted
to the notifier's role, and no other. Code that starts calling a new API fails here before it fails in
an account with AccessDenied; a grant the code stopped needing fails here too.

A module "names" an operation when its botocore name appears in it as a string or an attribute
(`iam.get_paginator("list_users")`, `config.put_evaluations(...)`). A rule runs its own module and every
`notifier.rules` module that one imports, transitively; the remediation function runs its own module only
(it imports the standardized-iam-policies rule for its pure verdict function, never its evaluator).
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from .support import ROOT, actions, load_template
from .test_template import FUNCTIONS

SERVICES = ("iam", "config")
REACHED_ONLY_BY_CHANGE_TRIGGERS = {"config:GetResourceConfigHistory"}  # fetching an oversized item
REACHED_ONLY_BY_SWEEPS = {"config:GetComplianceDetailsByConfigRule"}  # retiring what a periodic run no longer sees


@cache
def operations(services: tuple[str, ...] = SERVICES) -> dict[str, set[str]]:
    """botocore name (list_users) -> IAM actions (iam:ListUsers), for IAM and Config by default."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    names: dict[str, set[str]] = {}
    for service in services:
        for operation in session.get_service_model(service).operation_names:
            names.setdefault(xform_name(operation), set()).add(f"{service}:{operation}")
    return names


def module_path(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"


def named_operations(module: str, *, transitive: bool, names: dict[str, set[str]] | None = None) -> set[str]:
    seen: set[str] = set()
    pending = [module]
    found: set[str] = set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = ast.parse(module_path(current).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found |= (names or operations()).get(node.value, set())
            elif isinstance(node, ast.Attribute):
                found |= (names or operations()).get(node.attr, set())
            elif transitive and isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                pending.append(f"notifier.rules.{node.module}")  # a sibling in notifier.rules
    return found


RULE_FUNCTIONS = {name: spec for name, spec in FUNCTIONS.items() if name.startswith("Rule")}


@pytest.fixture(scope="module")
def roles() -> dict[str, Any]:
    resources: dict[str, Any] = load_template()["Resources"]
    return resources


@pytest.mark.parametrize("function", sorted(RULE_FUNCTIONS))
def test_a_rule_role_grants_what_its_code_calls_and_no_more(function: str, roles: dict[str, Any]) -> None:
    handler, role, _condition = RULE_FUNCTIONS[function]
    module = handler.rsplit(".", 1)[0]
    needed = named_operations(module, transitive=True)
    if not importlib.import_module(module).RULE.periodic_resource_types:
        needed -= REACHED_ONLY_BY_SWEEPS
    if not {"ConfigurationItemChangeNotification", "OversizedConfigurationItemChangeNotification"} & triggers(
        roles, function
    ):
        needed -= REACHED_ONLY_BY_CHANGE_TRIGGERS
    granted = {action for action in actions(roles[role]) if action.split(":")[0] in SERVICES}
    assert granted == needed, f"{role}: grant {sorted(needed - granted)}, drop {sorted(granted - needed)}"


def triggers(resources: dict[str, Any], function: str) -> set[str]:
    """The message types of the Config rule whose source is this function."""
    (rule,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Config::ConfigRule"
        and r["Properties"]["Source"]["SourceIdentifier"] == {"Fn::GetAtt": [function, "Arn"]}
    ]
    return {detail["MessageType"] for detail in rule["Properties"]["Source"]["SourceDetails"]}


def test_the_remediation_role_grants_what_its_module_calls_and_no_more(roles: dict[str, Any]) -> None:
    handler, role, _condition = FUNCTIONS["RemediationLambdaFunction"]
    needed = named_operations(handler.rsplit(".", 1)[0], transitive=False)
    granted = {action for action in actions(roles[role]) if action.split(":")[0] in SERVICES}
    assert granted == needed


def test_every_handler_exists() -> None:
    for handler, _role, _condition in FUNCTIONS.values():
        module, attribute = handler.rsplit(".", 1)
        tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
        defined = {
            target.id
            for node in tree.body
            for target in (node.targets if isinstance(node, ast.Assign) else [])
            if isinstance(target, ast.Name)
        } | {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert attribute in defined, handler


# DynamoDB operations the state store names that the notifier never calls, or that are no IAM action.
NOT_THE_NOTIFIER_S = {
    "dynamodb:CreateTable": "the stack creates the table; create_table serves the demo and local runs",
    "dynamodb:DescribeTimeToLive": "create_table's TTL check, the same",
    "dynamodb:UpdateTimeToLive": "create_table's TTL switch, the same",
    "dynamodb:Scan": "history of every resource: `compliance-notifier report`, run by a person",
    "dynamodb:TransactWriteItems": "not an IAM action: authorized as the Put/Update/Delete it carries",
}
TRANSACTION_ITEMS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                     "ConditionCheck": "dynamodb:ConditionCheckItem"}  # fmt: skip


def test_the_notifier_role_grants_the_state_store_s_dynamodb_calls(roles: dict[str, Any]) -> None:
    names = operations(("dynamodb",))
    needed: set[str] = set()
    for path in sorted((ROOT / "notifier" / "state").glob("dynamodb*.py")):
        module = "notifier.state." + path.stem
        needed |= named_operations(module, transitive=False, names=names)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):  # the items of a TransactWriteItems: {"Put": {...}}, {"Update": {...}}
            if isinstance(node, ast.Dict):
                needed |= {
                    TRANSACTION_ITEMS[k.value]
                    for k in node.keys
                    if isinstance(k, ast.Constant) and k.value in TRANSACTION_ITEMS
                }
    needed -= set(NOT_THE_NOTIFIER_S)
    granted = {action for action in actions(roles["NotifierRole"]) if action.startswith("dynamodb:")}
    assert granted == needed, f"NotifierRole: grant {sorted(needed - granted)}, drop {sorted(granted - needed)}"
