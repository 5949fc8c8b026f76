"""(h) The Lambda zips' sizes, built exactly as deploy/check.py builds them (deploy/build_zip.py:
arm64 wheels for Python 3.12, no boto3, no tests/bench/docs). The dependency download is cached in
deploy/build/, so a second run only re-zips."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Sizes(NamedTuple):
    notifier: int
    rules: int
    target: int


def _build_zip_module() -> ModuleType:
    # deploy/ is a folder of scripts, not a package: load the one file CI runs.
    spec = importlib.util.spec_from_file_location("build_zip", ROOT / "deploy" / "build_zip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def zip_sizes(*, rebuild: bool = True) -> Sizes:
    """Build the zips (or, with rebuild=False, read the sizes the last build recorded)."""
    build_zip = _build_zip_module()
    sizes = build_zip.build() if rebuild else json.loads((build_zip.DEFAULT_OUT / "sizes.json").read_text())
    return Sizes(sizes["notifier.zip"], sizes["rules.zip"], build_zip.SIZE_TARGET)
