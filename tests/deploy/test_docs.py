"""docs/deploy.md keeps up with serverless.yml: every parameter documented, every role described."""

from __future__ import annotations

from typing import Any

import yaml

from .support import ROOT, load_template

DOC = ROOT / "docs" / "deploy.md"


class _TagTolerantLoader(yaml.SafeLoader):
    """Reads serverless.yml, whose CloudFormation tags (!Ref, !GetAtt, ...) are not ours to resolve."""


_TagTolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def serverless_params() -> dict[str, Any]:
    document = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_TagTolerantLoader)
    params: dict[str, Any] = document["params"]["default"]
    return params


def test_every_parameter_is_in_the_parameters_table() -> None:
    text = DOC.read_text()
    missing = [name for name in serverless_params() if f"| `{name}` |" not in text]
    assert not missing, f"docs/deploy.md's parameters table lacks {missing}"


def test_every_role_is_described() -> None:
    text = DOC.read_text()
    roles = [name for name, body in load_template()["Resources"].items() if body["Type"] == "AWS::IAM::Role"]
    missing = [name for name in roles if f"`{name}`" not in text]
    assert not missing, f"docs/deploy.md does not say what {missing} may do"
