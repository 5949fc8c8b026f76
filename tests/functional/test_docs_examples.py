"""Every routing-config example in the README and docs/ loads with the same loader and checks as
`check-config`: an example that stopped being valid fails here, so the docs cannot rot. A block counts
as a routing config when it has both `destinations:` and `routes:` at its top level."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from notifier.routing.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def routing_examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, match in enumerate(_BLOCK.finditer(document.read_text()), start=1):
            text = match.group(1)
            if re.search(r"^destinations:", text, re.M) and re.search(r"^routes:", text, re.M):
                found.append((f"{document.relative_to(ROOT)}#yaml-{number}", text))
    return found


EXAMPLES = routing_examples()


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_every_routing_example_in_the_docs_loads(where: str, text: str, tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()  # an example's `templates_dir: templates`: the reader's own folder
    config = parse_config(text, where, tmp_path)
    assert config.destinations, where


def test_the_examples_cover_every_destination_type() -> None:
    types = set()
    for _, text in EXAMPLES:
        document = yaml.safe_load(text)
        types |= {spec["type"] for spec in document["destinations"].values()}
    assert types == {"email", "file", "jira", "servicenow", "webhook", "slack", "lambda"}
    assert len(EXAMPLES) >= 6
