"""deploy/build_zip.py's decisions that need no network: what pip is asked for, and what is bundled."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import pytest

from .support import ROOT


def load_build_zip() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_zip", ROOT / "deploy" / "build_zip.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_zip = load_build_zip()


def test_pip_installs_for_the_lambda_runtime_not_for_this_machine() -> None:
    command = build_zip.pip_command(["orjson>=3.9"], Path("/tmp/target"))
    assert command[1:4] == ["-m", "pip", "install"]
    for flag in ("--only-binary=:all:", "--no-compile"):
        assert flag in command
    pairs = set(itertools.pairwise(command))
    assert {("--python-version", "3.12"), ("--implementation", "cp"), ("--target", "/tmp/target")} <= pairs
    assert ("--platform", "manylinux2014_aarch64") in pairs
    assert ("--constraint", str(ROOT / "deploy" / "lambda-constraints.txt")) in pairs


def test_boto3_is_left_to_the_runtime() -> None:
    requirements = build_zip.runtime_requirements()
    assert requirements
    assert not any(build_zip._name(spec) in {"boto3", "botocore"} for spec in requirements)


def test_a_routing_config_s_own_templates_are_bundled_beside_it(tmp_path: Path) -> None:
    (tmp_path / "my-templates" / "security").mkdir(parents=True)
    (tmp_path / "my-templates" / "security" / "subject.txt.j2").write_text("{{ rule }}")
    routes = tmp_path / "routes.yml"
    routes.write_text("templates_dir: my-templates\ndestinations: {}\nroutes: []\n")
    assert build_zip.user_templates(routes) == [
        ("my-templates/security/subject.txt.j2", tmp_path / "my-templates" / "security" / "subject.txt.j2")
    ]


@pytest.mark.parametrize("folder", ["templates", "../elsewhere", "/etc"])
def test_a_templates_dir_that_would_clash_or_escape_is_refused(tmp_path: Path, folder: str) -> None:
    routes = tmp_path / "routes.yml"
    routes.write_text(f"templates_dir: {folder}\n")
    with pytest.raises(SystemExit, match="templates_dir"):
        build_zip.user_templates(routes)


def test_the_example_config_bundles_no_templates_of_its_own() -> None:
    assert build_zip.user_templates(ROOT / "deploy" / "routes.example.yml") == []
