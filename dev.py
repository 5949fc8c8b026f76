#!/usr/bin/env python3
"""The README's two commands, runnable on a fresh machine with only python3.

    python3 dev.py demo [ARGS...]   run `compliance-notifier demo` offline (embedded AWS, no account)
    python3 dev.py test [ARGS...]   ruff, mypy on notifier/, then the whole pytest suite

Each creates `.venv/` on first use and installs the project with the extras it needs; it reinstalls
only when pyproject.toml changes (a stamp file records its hash).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_venv(extra: str) -> None:
    stamp = VENV / f".installed-{extra}"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print(f"installing compliance-notifier[{extra}] into {VENV} ...", flush=True)
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[{extra}]"], check=True, cwd=ROOT
    )
    stamp.write_text(wanted)


def run(*argv: str) -> int:
    print("+", " ".join(argv), flush=True)
    return subprocess.run(argv, cwd=ROOT).returncode


def main(args: list[str]) -> int:
    if not args or args[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, rest = args[0], args[1:]
    if command == "demo":
        ensure_venv("demo")
        return run(str(BIN / "compliance-notifier"), "demo", *rest)
    ensure_venv("test")
    python = str(BIN / "python")
    for step in (
        (python, "-m", "ruff", "check", "notifier", "tests", "bench", "scripts", "deploy"),
        (python, "-m", "mypy", "notifier"),
        (sys.executable, "scripts/ensure_chromium.py"),  # Debian's chromium, for the report's browser test
        (python, "deploy/check.py"),  # Lambda zips, `serverless package` (offline), cfn-lint: tests/deploy reads them
        (python, "-m", "pytest", "-n", "2", *rest),
    ):
        code = run(*step)
        if code != 0:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
