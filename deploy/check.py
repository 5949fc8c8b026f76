#!/usr/bin/env python3
"""The deployment check CI runs (through `python3 dev.py test`): build, package, lint. Offline.

    python deploy/check.py

1. deploy/build_zip.py: deploy/build/notifier.zip and rules.zip for python3.12/arm64 (pip reaches PyPI
   on a cold run; installed dependencies are cached in deploy/build).
2. `npm ci --ignore-scripts` in deploy/ when deploy/node_modules does not match package-lock.json
   (Serverless Framework v3, pinned by the lockfile; runs beside step 1).
3. `serverless package --stage ci --region us-east-1` with dummy credentials, telemetry and notifications
   off, and no AWS config files: packaging reads no account. Where the machine allows it (root, or user
   namespaces), it runs in a network namespace of its own, which proves it needs no network at all.
4. cfn-lint on .serverless/cloudformation-template-update-stack.json; a warning fails too. W3005 alone is
   ignored: the framework adds DependsOn on each function's role beside its own GetAtt of that role.

tests/deploy/ then reads the template and the zips this produced (they fail, saying to run this, when
either is missing). Exit status 0 when every step passed; each failing step says what to do.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build_zip

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODE_MODULES = DEPLOY / "node_modules"
LOCK_STAMP = NODE_MODULES / ".package-lock.sha256"
SERVERLESS = NODE_MODULES / ".bin" / "serverless"
TEMPLATE = ROOT / ".serverless" / "cloudformation-template-update-stack.json"
STAGE, REGION = "ci", "us-east-1"
IGNORED_LINT_CHECKS = ("W3005",)


class CheckFailed(Exception):
    """A step failed; the message says which and what to do."""


def main() -> int:
    started = time.monotonic()
    try:
        require_node()
        npm = start_npm_ci_if_stale()
        step = time.monotonic()
        sizes = build_zip.build()
        report("build_zip", step, ", ".join(f"{name} {size / 1024 / 1024:.2f} MiB" for name, size in sizes.items()))
        if sizes["notifier.zip"] > build_zip.SIZE_TARGET:
            raise CheckFailed(f"notifier.zip is {sizes['notifier.zip']:,} bytes, over the 5 MiB target")
        finish_npm_ci(npm)
        step = time.monotonic()
        package()
        report("serverless package", step, str(TEMPLATE.relative_to(ROOT)))
        step = time.monotonic()
        lint()
        report("cfn-lint", step, "no findings")
    except CheckFailed as failure:
        print(f"deploy/check.py: FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"deploy/check.py: passed in {time.monotonic() - started:.1f}s", flush=True)
    return 0


def report(name: str, since: float, detail: str) -> None:
    print(f"deploy/check.py: {name}: {time.monotonic() - since:.1f}s ({detail})", flush=True)


def require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise CheckFailed(
            f"{' and '.join(missing)} not found: the Serverless Framework needs Node.js 18 or later with npm "
            "(Debian: apt-get install nodejs npm)"
        )
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    major = int(version.lstrip("v").split(".")[0]) if version.lstrip("v")[:1].isdigit() else 0
    if major < 18:
        shown = version or "(unknown version)"
        raise CheckFailed(f"node {shown} is too old: Serverless Framework v3 needs 18 or later")


def lock_digest() -> str:
    return hashlib.sha256((DEPLOY / "package-lock.json").read_bytes()).hexdigest()


def start_npm_ci_if_stale() -> subprocess.Popen[bytes] | None:
    """`npm ci` in the background when node_modules was not installed from this very lockfile."""
    if SERVERLESS.exists() and LOCK_STAMP.exists() and LOCK_STAMP.read_text().strip() == lock_digest():
        return None
    print("deploy/check.py: npm ci (Serverless Framework v3, from deploy/package-lock.json) ...", flush=True)
    command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    return subprocess.Popen(command, cwd=DEPLOY)


def finish_npm_ci(npm: subprocess.Popen[bytes] | None) -> None:
    if npm is None:
        return
    step = time.monotonic()
    if npm.wait() != 0:
        raise CheckFailed("npm ci failed in deploy/ (see its output above); the npm registry must be reachable")
    LOCK_STAMP.write_text(lock_digest() + "\n")
    report("npm ci (after the build)", step, "node_modules matches package-lock.json")


def offline_environment() -> dict[str, str]:
    """Nothing from the caller's AWS setup: dummy credentials, no profiles, no telemetry, no prompts."""
    home = DEPLOY / "build" / "serverless-home"  # the framework writes ~/.serverlessrc and caches here
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CI": "1",
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_TRACKING_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_INTERACTIVE_SETUP_DISABLE": "1",
    }


def without_network() -> list[str]:
    """`unshare -n` (a network namespace with nothing in it) where this machine permits one."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    return [unshare, "-n"] if probe.returncode == 0 else []


def package() -> None:
    shutil.rmtree(ROOT / ".serverless", ignore_errors=True)
    isolation = without_network()
    command = [*isolation, str(SERVERLESS), "package", "--stage", STAGE, "--region", REGION]
    where = "with no network" if isolation else "offline (no network namespace available here)"
    print(f"deploy/check.py: serverless package --stage {STAGE} --region {REGION}, {where} ...", flush=True)
    result = subprocess.run(command, cwd=ROOT, env=offline_environment(), capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or not TEMPLATE.exists():
        raise CheckFailed(f"serverless package failed (exit {result.returncode}):\n{output}")
    if "Warning" in output or "deprecation" in output.lower():  # configValidationMode error catches most;
        raise CheckFailed(f"serverless package warned; fix serverless.yml:\n{output}")  # the rest, here


def lint() -> None:
    beside = [Path(sys.executable).parent / "cfn-lint", ROOT / ".venv" / "bin" / "cfn-lint"]  # this venv, dev.py's
    executable = next((str(path) for path in beside if path.exists()), None) or shutil.which("cfn-lint")
    if executable is None:
        raise CheckFailed("cfn-lint not found: install the test extra (pip install -e '.[test]')")
    command = [executable, "--ignore-checks", *IGNORED_LINT_CHECKS, "--", str(TEMPLATE)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CheckFailed(f"cfn-lint found problems in the generated template:\n{result.stdout}{result.stderr}")


if __name__ == "__main__":
    sys.exit(main())
