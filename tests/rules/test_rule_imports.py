"""A rule Lambda's cold start stays small: importing a rule module loads nothing from the delivery side.

Each module is imported in a fresh interpreter (this test process has loaded everything already), and
the test reads that interpreter's `sys.modules`. boto3 is on the list too: rules import it on first use,
so that a Lambda whose parameters are wrong fails before paying for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import notifier.rules

HEAVY = (
    "jinja2",
    "requests",
    "yaml",
    "jsonschema",
    "jsonschema_rs",
    "aws_lambda_powertools",
    "orjson",
    "boto3",
    "botocore",
)
RULES_DIR = Path(notifier.rules.__file__).parent
RULE_MODULES = sorted(f"notifier.rules.{path.stem}" for path in RULES_DIR.glob("*.py") if path.stem != "__init__")
# Besides the rules package, a rule may use these notifier modules (each imports the standard library only).
ALLOWED_NOTIFIER = {
    "notifier",
    "notifier.errors",
    "notifier.transition",
    "notifier.rules",
    "notifier.remediation",
    "notifier.remediation.payload",
}


def loaded_after_import(module: str) -> list[str]:
    script = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=RULES_DIR.parents[1]
    )
    names: list[str] = json.loads(done.stdout)
    return names


@pytest.mark.parametrize("module", ["notifier", "notifier.transition", "notifier.rules", *RULE_MODULES])
def test_importing_it_loads_nothing_heavy(module: str) -> None:
    loaded = loaded_after_import(module)
    heavy = sorted(name for name in loaded if name.split(".")[0] in HEAVY)
    assert heavy == [], f"{module} pulls {heavy[:5]} into a rule's cold start"
    notifier_modules = {name for name in loaded if name.split(".")[0] == "notifier"}
    outside = sorted(n for n in notifier_modules if not n.startswith("notifier.rules.") and n not in ALLOWED_NOTIFIER)
    assert outside == [], f"{module} imports {outside} from outside the rules"


def test_the_handlers_named_by_the_deployment_exist() -> None:
    """serverless.yml points at notifier.rules.<module>.lambda_handler for these three."""
    import importlib

    for module in ("standardized_iam_policies", "critical_managed_policies_unchanged", "password_policy"):
        handler = importlib.import_module(f"notifier.rules.{module}").lambda_handler
        assert callable(handler)
