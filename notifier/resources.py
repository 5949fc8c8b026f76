"""Where the schema and template files live: beside the package in a checkout or a Lambda zip."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
TEMPLATES_DIR = PROJECT_ROOT / "templates"


def schema_path(name: str) -> Path:
    return SCHEMAS_DIR / name


@functools.cache
def load_schema_file(name: str) -> dict[str, Any]:
    """A schema from `schemas/`, read once per process (every validator of it shares the one object)."""
    with open(schema_path(name), encoding="utf-8") as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema
