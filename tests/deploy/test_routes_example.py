"""deploy/routes.example.yml, the routing config bundled by default, stays valid and fits the stack."""

from __future__ import annotations

from notifier.routing.config import load_config
from notifier.secret_references import secret_uses

from .support import ROOT

EXAMPLE = ROOT / "deploy" / "routes.example.yml"


def test_the_example_loads_with_the_notifier_s_own_loader() -> None:
    config = load_config(EXAMPLE)
    assert {spec.type for spec in config.destinations.values()} >= {"email", "jira", "slack", "lambda"}


def test_it_routes_by_account_id() -> None:
    text = EXAMPLE.read_text()
    assert "account:" in text
    config = load_config(EXAMPLE)
    assert "payments-accounts" in config.tree.route_names


def test_its_remediation_is_this_stack_s_function_in_dry_run() -> None:
    (remediation,) = [spec for spec in load_config(EXAMPLE).destinations.values() if spec.type == "lambda"]
    assert remediation.options["function"].startswith("compliance-notifier-")
    assert remediation.options["function"].endswith("-remediation")  # serverless.yml: ${prefix}-remediation
    assert remediation.options["mode"] == "dry-run"


def test_its_secrets_are_ssm_or_secrets_manager_references() -> None:
    schemes = {use.reference.split(":")[0] for use in secret_uses(load_config(EXAMPLE).destinations)}
    assert schemes == {"ssm", "secretsmanager"}  # both need a grant: SsmParameterArns, SecretArns
