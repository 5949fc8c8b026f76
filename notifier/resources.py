"""Where the schema and template files live: beside the package in a checkout or a Lambda zip."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
TEMPLATES_DIR = PROJECT_ROOT / "templates"


def schema_path(name: str) -> Path:
    return SCHEMAS_DIR / name
