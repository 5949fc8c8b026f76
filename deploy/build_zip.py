#!/usr/bin/env python3
"""Build the Lambda artifacts that serverless.yml deploys (`package: artifact:`), for the Lambda runtime.

    python deploy/build_zip.py [--routes FILE] [--out DIR]

Two zips, both deterministic (sorted entries, fixed timestamps and modes: the same inputs give the same
bytes, so CloudFormation sees no code change when nothing changed):

    notifier.zip  the notifier: notifier/, schemas/, templates/ beside it (notifier/resources.py finds
                  them next to the package), routes.yml (the routing config, NOTIFIER_CONFIG=routes.yml)
                  and the runtime dependencies of pyproject.toml [project].dependencies
    rules.zip     the Config rules and the remediation function: notifier/ alone. Rules import only the
                  standard library and boto3 (lazily), so they carry no third-party code at all.

Dependencies are installed for the runtime, not for this machine: Python 3.12 on arm64 (Graviton, the
cheaper Lambda architecture; every dependency publishes aarch64 manylinux wheels), with
`--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 --only-binary=:all:
--python-version 3.12 --implementation cp`, so pip refuses to build anything and never picks up a
wheel compiled for the build machine; deploy/lambda-constraints.txt pins what the bundle needs pinned.
boto3 and botocore are in the Lambda runtime and are left out.
Installed dependencies are cached in the build folder, keyed by the requirement list and the flags, so
a warm build only re-zips. Tests, bench and docs never enter a zip: only the folders named above do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "deploy" / "build"
DEFAULT_ROUTES = ROOT / "deploy" / "routes.example.yml"
CONSTRAINTS = ROOT / "deploy" / "lambda-constraints.txt"  # bundle-only pins (see the file for why)

PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")  # Lambda python3.12 is Amazon Linux 2023
IN_RUNTIME = frozenset({"boto3", "botocore"})  # provided by the Lambda runtime: never bundled
SIZE_TARGET = 5 * 1024 * 1024

# A fixed date for every entry (the earliest a zip can hold) and fixed modes: reproducible bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16
# Never shipped, wherever they turn up (a dependency's own tests, caches, type stubs are harmless but
# useless at run time; tests/bench/docs of this project are excluded by never being copied at all).
SKIPPED_DIRS = frozenset({"__pycache__", "tests", "test", "bench", "docs"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")
# PyYAML's optional libyaml binding: 2.8 MB with debug info, and unused (the routing config is read with
# the pure-Python loader, which keeps line numbers); PyYAML falls back to pure Python without it.
SKIPPED_GLOBS = ("yaml/_yaml.*.so",)


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """[project].dependencies without what the Lambda runtime already has."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return sorted(spec for spec in dependencies if _name(spec) not in IN_RUNTIME)


def _name(spec: str) -> str:
    for separator in "<>=!~[; ":
        spec = spec.split(separator, 1)[0]
    return spec.strip().lower().replace("_", "-")


def pip_command(requirements: list[str], target: Path) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--root-user-action=ignore"]
    command += ["--target", str(target), "--only-binary=:all:", "--implementation", "cp"]
    command += ["--python-version", PYTHON_VERSION, "--no-compile", "--constraint", str(CONSTRAINTS)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return [*command, *requirements]


def install_dependencies(out: Path) -> Path:
    """The dependencies, installed for the runtime into a folder named after what was asked for."""
    requirements = runtime_requirements()
    command = pip_command(requirements, Path("TARGET"))
    key = hashlib.sha256(json.dumps([*command[1:], CONSTRAINTS.read_text()]).encode()).hexdigest()[:16]
    target = out / f"deps-{key}"
    if (target / ".complete").exists():
        return target
    for stale in out.glob("deps-*"):
        shutil.rmtree(stale)
    partial = out / f"partial-{key}"
    shutil.rmtree(partial, ignore_errors=True)
    print(f"installing {len(requirements)} runtime dependencies for python{PYTHON_VERSION}/arm64 ...", flush=True)
    subprocess.run(pip_command(requirements, partial), check=True)
    bundled = {path.name.split("-")[0].lower() for path in partial.glob("*.dist-info")}
    leaked = {name for name in bundled if name.replace("_", "-") in IN_RUNTIME}
    if leaked:  # a dependency pulled boto3 in: bundling it would shadow the runtime's copy
        for name in leaked:
            for path in [*partial.glob(f"{name}"), *partial.glob(f"{name}-*.dist-info")]:
                shutil.rmtree(path)
    (partial / ".complete").write_text("\n".join(requirements) + "\n")
    partial.rename(target)
    return target


def tree_files(base: Path, folder: str) -> Iterator[tuple[str, Path]]:
    """(name in the zip, path) for every shipped file under base/folder."""
    root = base / folder
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(base)
        if path.is_dir() or any(part in SKIPPED_DIRS for part in relative.parts[:-1]):
            continue
        if path.name.endswith(SKIPPED_SUFFIXES) or path.name == ".complete":
            continue
        if any(PurePosixPath(relative.as_posix()).match(pattern) for pattern in SKIPPED_GLOBS):
            continue
        yield relative.as_posix(), path


def dependency_files(deps: Path) -> Iterator[tuple[str, Path]]:
    for top in sorted(deps.iterdir()):
        if top.name in {"bin", ".complete"} or top.name in SKIPPED_DIRS:
            continue
        if top.is_file():
            if not top.name.endswith(SKIPPED_SUFFIXES):
                yield top.name, top
            continue
        yield from tree_files(deps, top.name)


def write_zip(path: Path, entries: Iterable[tuple[str, Path]]) -> int:
    """Write entries sorted by name with fixed metadata; returns the zip's size in bytes."""
    unique = dict(entries)  # a later entry with the same name wins (routes.yml over nothing, in practice)
    partial = path.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(unique):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = FILE_MODE
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so that the mode above is read as one
            archive.writestr(info, unique[name].read_bytes(), compresslevel=9)
    partial.replace(path)
    return path.stat().st_size


def user_templates(routes: Path) -> list[tuple[str, Path]]:
    """The routing config's own `templates_dir` (relative to it), bundled at the same place relative to
    routes.yml, i.e. the zip's root; it cannot be `templates`, the bundled sets' folder."""
    text = routes.read_text(encoding="utf-8")
    if "templates_dir" not in text:
        return []
    import yaml  # only here: most configs need no PyYAML to be bundled

    folder = (yaml.safe_load(text) or {}).get("templates_dir")
    if not folder:
        return []
    relative = PurePosixPath(str(folder))
    if relative.is_absolute() or ".." in relative.parts or relative.parts[0] in {"templates", "schemas", "notifier"}:
        raise SystemExit(
            f"build_zip: templates_dir {folder!r} in {routes} must be a folder beside it whose name is not "
            "templates, schemas or notifier (those are the package's own, at the same place in the zip)"
        )
    source = routes.parent / relative
    if not source.is_dir():
        raise SystemExit(f"build_zip: templates_dir {folder!r} of {routes} is not a folder ({source})")
    return [
        (str(relative / path.relative_to(source).as_posix()), path)
        for path in sorted(source.rglob("*"))
        if path.is_file()
    ]


def build(out: Path = DEFAULT_OUT, routes: Path = DEFAULT_ROUTES) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    if not routes.is_file():
        raise SystemExit(f"build_zip: the routing config {routes} does not exist")
    deps = install_dependencies(out)
    package = list(tree_files(ROOT, "notifier"))
    notifier_entries = [
        *dependency_files(deps),
        *package,
        *tree_files(ROOT, "schemas"),
        *tree_files(ROOT, "templates"),
        *user_templates(routes),
        ("routes.yml", routes),
    ]
    sizes = {
        "notifier.zip": write_zip(out / "notifier.zip", notifier_entries),
        "rules.zip": write_zip(out / "rules.zip", package),
    }
    (out / "sizes.json").write_text(json.dumps(sizes, indent=2, sort_keys=True) + "\n")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--routes",
        type=Path,
        default=Path(os.environ.get("NOTIFIER_ROUTES", DEFAULT_ROUTES)),
        help="the routing config bundled as routes.yml (default: deploy/routes.example.yml)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the zips go (default: deploy/build)")
    args = parser.parse_args(argv)
    sizes = build(args.out.resolve(), args.routes.resolve())
    for name, size in sizes.items():
        print(f"{args.out / name}: {size:,} bytes ({size / 1024 / 1024:.2f} MiB)")
    if sizes["notifier.zip"] > SIZE_TARGET:
        print(f"build_zip: notifier.zip is over the {SIZE_TARGET // 1024 // 1024} MiB target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
