#!/usr/bin/env python3
"""Make sure Debian's `chromium` is installed at /usr/bin/chromium; install it with apt-get if not.

    python3 scripts/ensure_chromium.py

The report's browser test (tests/functional/test_report_browser.py) renders the HTML report in
headless Chromium and fails, rather than skips, without it: a skipped test would hide a broken page.
This script is how a machine gets it: quiet and non-interactive, so `dev.py test` can call it every
time (it returns at once when the browser is there). It needs Debian or Ubuntu (apt-get) and root;
otherwise it says so and exits 1. Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# chromium-sandbox (a Recommends) is not needed: the tests run chromium with --no-sandbox.
INSTALL = ("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium")
UPDATE = ("apt-get", "update", "-qq")


def main() -> int:
    if _executable(CHROMIUM):
        return 0
    problem = _why_apt_cannot_run()
    if problem:
        print(f"ensure_chromium: {CHROMIUM} is missing and cannot be installed here: {problem}.", file=sys.stderr)
        print(f"Install Debian's `chromium` package by other means so that {CHROMIUM} exists.", file=sys.stderr)
        return 1
    print(f"ensure_chromium: {CHROMIUM} is missing; installing Debian's chromium package ...", flush=True)
    # Non-interactive: no debconf prompt may wait for a terminal that a test run does not have.
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # A fresh container usually has empty package lists, so update first; an install alone would fail.
    for step in (UPDATE, INSTALL):
        completed = subprocess.run(step, env=environment, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            print(f"ensure_chromium: `{' '.join(step)}` failed (exit {completed.returncode}):", file=sys.stderr)
            print(completed.stderr.strip() or completed.stdout.strip(), file=sys.stderr)
            return 1
    if not _executable(CHROMIUM):
        print(f"ensure_chromium: apt-get installed chromium but {CHROMIUM} is still missing.", file=sys.stderr)
        return 1
    print(f"ensure_chromium: installed {CHROMIUM}", flush=True)
    return 0


def _why_apt_cannot_run() -> str | None:
    if shutil.which("apt-get") is None:
        return "apt-get is not available (this is not Debian or Ubuntu)"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "apt-get needs root (run this script as root, e.g. with sudo)"
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


if __name__ == "__main__":
    sys.exit(main())
