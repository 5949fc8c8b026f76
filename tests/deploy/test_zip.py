"""The Lambda zips deploy/build_zip.py built: what is in them, what is not, and for which machine."""

from __future__ import annotations

import struct
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

from notifier.routing.config import parse_config

from .support import NOTIFIER_ZIP, ROOT, RULES_ZIP, open_zip

SIZE_TARGET = 5 * 1024 * 1024
AARCH64 = 183  # ELF e_machine
NEVER_SHIPPED = ("tests/", "bench/", "docs/", "deploy/", ".serverless/", "examples/", "scripts/")


def names(archive: zipfile.ZipFile) -> list[str]:
    return archive.namelist()


def test_the_notifier_zip_is_at_most_5_mib() -> None:
    open_zip(NOTIFIER_ZIP).close()
    assert NOTIFIER_ZIP.stat().st_size <= SIZE_TARGET


def test_the_notifier_zip_holds_the_package_its_files_and_the_routes() -> None:
    with open_zip(NOTIFIER_ZIP) as archive:
        listed = set(names(archive))
        routes = archive.read("routes.yml").decode()
    assert "notifier/handler.py" in listed
    assert "notifier/resources.py" in listed  # finds schemas/ and templates/ beside the package
    for folder in ("schemas", "templates"):
        shipped = {path.relative_to(ROOT).as_posix() for path in (ROOT / folder).rglob("*") if path.is_file()}
        assert shipped <= listed, sorted(shipped - listed)
    parse_config(routes, "routes.yml", Path("/var/task"))  # the bundled routing config is valid


def test_no_tests_bench_docs_or_caches_are_shipped() -> None:
    for path in (NOTIFIER_ZIP, RULES_ZIP):
        with open_zip(path) as archive:
            for name in names(archive):
                assert not name.startswith(NEVER_SHIPPED), (path.name, name)
                assert "__pycache__/" not in name and not name.endswith(".pyc"), (path.name, name)
                assert "/tests/" not in name, (path.name, name)


def test_the_runtime_provides_boto3_so_it_is_not_bundled() -> None:
    with open_zip(NOTIFIER_ZIP) as archive:
        tops = {name.split("/")[0] for name in names(archive)}
    assert not {"boto3", "botocore"} & tops
    for package in ("jinja2", "jsonschema", "jsonschema_rs", "yaml", "aws_lambda_powertools", "orjson", "requests"):
        assert package in tops, package


def test_compiled_dependencies_are_for_lambda_arm64_python312() -> None:
    with open_zip(NOTIFIER_ZIP) as archive:
        libraries = [name for name in names(archive) if name.endswith(".so")]
        assert libraries  # orjson, jsonschema_rs, rpds, markupsafe, charset_normalizer
        for name in libraries:
            header = archive.read(name)[:20]
            assert header[:4] == b"\x7fELF", name
            assert struct.unpack_from("<H", header, 18)[0] == AARCH64, f"{name} is not an aarch64 library"
            assert "cpython-312" in name or ".abi3." in name, f"{name} is not built for CPython 3.12"


def test_the_bundled_dependencies_satisfy_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    with open_zip(NOTIFIER_ZIP) as archive:
        versions = {}
        for name in names(archive):
            top = name.split("/")[0]
            if top.endswith(".dist-info") and name.endswith("/METADATA"):
                project, version = top.removesuffix(".dist-info").rsplit("-", 1)
                versions[project.lower().replace("_", "-")] = version
    for spec in map(Requirement, declared):
        if spec.name in ("boto3", "botocore"):
            continue
        key = spec.name.lower().replace("_", "-")
        assert key in versions, spec.name
        assert spec.specifier.contains(versions[key]), f"bundled {spec.name} {versions[key]} is not {spec}"


def test_the_rules_zip_is_the_package_alone_and_imports_without_third_party_code(tmp_path: Path) -> None:
    with open_zip(RULES_ZIP) as archive:
        assert {name.split("/")[0] for name in names(archive)} == {"notifier"}
        archive.extractall(tmp_path)
    handlers = [
        "notifier.rules.standardized_iam_policies",
        "notifier.rules.critical_managed_policies_unchanged",
        "notifier.rules.password_policy",
        "notifier.rules.ec2_roles_without_iam_privileges",
        "notifier.rules.no_role_modifies_security_groups",
        "notifier.rules.no_create_user_or_role",
        "notifier.rules.remediate_standardized_iam_policies",
    ]
    # -S: no site-packages, so jinja2, yaml, powertools... are not importable; only the zip and stdlib.
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import importlib\n"
        f"for name in {handlers!r}: assert callable(importlib.import_module(name).lambda_handler), name\n"
    )
    result = subprocess.run([sys.executable, "-S", "-E", "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_zips_are_deterministic() -> None:
    for path in (NOTIFIER_ZIP, RULES_ZIP):
        with open_zip(path) as archive:
            infos = archive.infolist()
        assert [info.filename for info in infos] == sorted(info.filename for info in infos)
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.external_attr >> 16 for info in infos} == {0o644}
