"""`compliance-notifier`: validate, explain, check-config, run, demo (DESIGN.md, "CLI").

A thin shell: it reads inputs, builds a Pipeline, and prints outcomes. An INPUT is a file path or
`-` (stdin) holding any envelope shape, or a JSON array of them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .envelopes import InboundMessage, decode_text
from .errors import ConfigError, NotifierError
from .pipeline import Outcome, Pipeline

_UPDATES_STATE_HELP = (
    "dry_run destinations record their requests and also update state as if sent (claims, tickets); "
    "default: NOTIFIER_DRY_RUN_UPDATES_STATE, else false (docs/dry-run.md)"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.command(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except NotifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="compliance-notifier", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, function: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(command=function)
        return sub

    validate = command("validate", _validate, "check that inputs hold valid Config messages; exit 1 if any is invalid")
    validate.add_argument("inputs", nargs="+", metavar="INPUT")

    explain = command("explain", _explain, "show what would happen to each message, without side effects")
    explain.add_argument("inputs", nargs="+", metavar="INPUT")
    explain.add_argument("--config", type=Path, help="routing config (YAML or JSON)")
    explain.add_argument("--state", help="state store URL to read (never written), e.g. sqlite:///path")
    explain.add_argument("--format", choices=("text", "json"), default="text")

    check = command("check-config", _check_config, "validate a routing config; report every problem at once")
    check.add_argument("config", type=Path)
    check.add_argument(
        "--resolve-secrets", action="store_true", help="also resolve every secret reference"
    )

    run = command("run", _run, "process inputs for real: deliver and record state")
    run.add_argument("inputs", nargs="+", metavar="INPUT")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--state", help="state store URL (default: NOTIFIER_STATE or a local SQLite file)")
    run.add_argument("--format", choices=("text", "json"), default="text")
    run.add_argument("--dry-run-updates-state", action="store_true", default=None, help=_UPDATES_STATE_HELP)

    # --- replay (notifier/replay.py) ---
    replay = command("replay", _replay, "re-process dead letters; delete each from SQS only after it succeeded")
    replay.add_argument("--from", dest="source", required=True, metavar="sqs://QUEUE_URL|FILE")
    replay.add_argument("--config", type=Path, required=True)
    replay.add_argument("--state", help="state store URL (default: NOTIFIER_STATE or a local SQLite file)")
    replay.add_argument("--destination", metavar="NAME", help="deliver only to this destination")
    replay.add_argument("--dry-run", action="store_true", help="send, record and delete nothing; say what would happen")
    replay.add_argument("--max", type=int, metavar="N", help="stop after N dead letters")
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.add_argument("--dry-run-updates-state", action="store_true", default=None, help=_UPDATES_STATE_HELP)
    # --- end replay ---

    # --- report (notifier/report/, docs/report.md) ---
    report = command("report", _report, "an offline HTML (or JSON) report of violations from the state store's history")
    report.add_argument("--state", help="state store URL to read (never written; default: NOTIFIER_STATE or local)")
    report.add_argument("--format", choices=("html", "json"), default="html")
    report.add_argument("--output", metavar="FILE", help="'-': stdout (default: compliance-report.html; json: stdout)")
    report.add_argument("--since", metavar="TIME", help="start of the window (ISO-8601; default: the first change)")
    report.add_argument("--now", metavar="TIME", help="report as of this time (ISO-8601; default: now)")
    report.add_argument("--top", type=int, default=10, metavar="N", help="how many oldest open violations to list")
    # --- end report ---

    # --- serve (notifier/sns_http/, docs/serve.md) ---
    serve = command("serve", _serve, "receive the Config topic's SNS HTTP(S) deliveries: verify, then process them")
    serve.add_argument("--config", help="routing config: path, s3://bucket/key or ssm:/name (default: NOTIFIER_CONFIG)")
    serve.add_argument("--state", help="state store URL (default: NOTIFIER_STATE or a local SQLite file)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080; 0: any free port)")
    topic_help = "a topic to accept (repeatable; default: NOTIFIER_SNS_TOPICS, comma-separated)"
    serve.add_argument("--topic-arn", action="append", default=[], metavar="ARN", help=topic_help)
    serve.add_argument("--threads", type=int, default=8, metavar="N", help="requests processed at once (default: 8)")
    # --- end serve ---

    # --- demo (notifier/demo/, docs/demo.md) ---
    demo = command("demo", _demo, "run the whole system offline on an embedded AWS (no account needed)")
    demo.add_argument("--out", type=Path, default=Path("demo-output"), help="where to write artefacts")
    scenario_help = "blog: the AWS blog's three users (default); storm: a rule deployment over many users"
    demo.add_argument("--scenario", choices=("blog", "storm"), default="blog", help=scenario_help)
    demo.add_argument("--size", type=_positive, default=500, metavar="N", help="storm: how many users (default: 500)")
    demo.add_argument("--keep", action="store_true", help="keep the embedded AWS up after the summary, until Ctrl-C")
    # --- end demo ---
    return parser


def _read_inputs(inputs: Sequence[str]) -> list[tuple[str, InboundMessage]]:
    messages: list[tuple[str, InboundMessage]] = []
    for name in inputs:
        try:
            text = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            error = f"cannot read {name}: {exc.strerror or exc}"
            messages.append((name, InboundMessage("config", "$", error=error)))
            continue
        messages.extend((name, message) for message in decode_text(text))
    return messages


def _validate(args: argparse.Namespace) -> int:
    pipeline = Pipeline(None, {})
    invalid = 0
    for name, message in _read_inputs(args.inputs):
        outcome = pipeline.process(message, send=False)
        invalid += outcome.status == "invalid"
        detail = outcome.error if outcome.status == "invalid" else _identity_line(outcome)
        print(
            f"{outcome.status.upper() if outcome.status == 'invalid' else 'ok':8} {name} {message.location}: {detail}"
        )
    return 1 if invalid else 0


def _explain(args: argparse.Namespace) -> int:
    from .state import open_state

    config = _load(args.config) if args.config else None
    state = open_state(args.state, read_only=True) if args.state else None
    pipeline = Pipeline(
        config.tree if config else None,
        config.destinations if config else {},
        state=state,
        invalid_messages=config.invalid_messages if config else None,
        silences=config.silences if config else (),
    )
    results = [(name, pipeline.process(message, send=False)) for name, message in _read_inputs(args.inputs)]
    if args.format == "json":
        _print_json(results)
    else:
        renderer = None
        if config is not None:
            from .render import Renderer

            renderer = Renderer(config.templates_dir)
        for name, outcome in results:
            _print_text(name, outcome, sys.stdout)
            if renderer is not None and config is not None:
                _print_emails(outcome, config, renderer)
    return 0


def _run(args: argparse.Namespace) -> int:
    from .app import build_pipeline
    from .batch import process_batch, workers_from_environment
    from .state import default_state_url, open_state
    from .telemetry import log_outcomes

    config = _load(args.config)
    state = open_state(args.state or default_state_url())
    try:
        pipeline = build_pipeline(config, state=state, dry_run_updates_state=args.dry_run_updates_state)
        inputs = _read_inputs(args.inputs)
        # Concurrently, one resource's messages in input order: see notifier.batch.
        outcomes = process_batch(pipeline, [message for _, message in inputs], workers=workers_from_environment())
        results = [(name, outcome) for (name, _), outcome in zip(inputs, outcomes, strict=True)]
    finally:
        state.close()
    log_outcomes(outcome for _, outcome in results)
    if args.format == "json":
        _print_json(results)
    else:
        for name, outcome in results:
            _print_text(name, outcome, sys.stdout)
    bad = any(o.status == "invalid" or o.failed_deliveries for _, o in results)
    return 1 if bad else 0


def _replay(args: argparse.Namespace) -> int:
    from .replay import run_replay

    return run_replay(
        args.source,
        config=_load(args.config),
        state_url=args.state,
        destination=args.destination,
        dry_run=args.dry_run,
        max_messages=args.max,
        output_format=args.format,
        out=sys.stdout,
        dry_run_updates_state=args.dry_run_updates_state,
    )


def _report(args: argparse.Namespace) -> int:
    from .report import run_report

    return run_report(
        state_url=args.state,
        output_format=args.format,
        output=args.output,
        since=args.since,
        now=args.now,
        top=args.top,
    )


def _serve(args: argparse.Namespace) -> int:
    from .sns_http.server import serve_command

    topics, threads = args.topic_arn, args.threads
    return serve_command(
        config=args.config, state=args.state, host=args.host, port=args.port, topic_arns=topics, threads=threads
    )


def _check_config(args: argparse.Namespace) -> int:
    from .routing.config import check_config

    path: Path = args.config
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return 1
    check = check_config(text, str(path), path.parent)
    problems = list(check.problems)
    if args.resolve_secrets and not problems:
        from .routing.config import parse_config
        from .secret_references import unresolvable
        from .secrets import SecretResolver

        problems = unresolvable(parse_config(text, str(path), path.parent).destinations, SecretResolver(), str(path))
    for problem in problems:
        print(f"error: {problem}")
    for warning in check.warnings:
        print(f"warning: {warning}")
    if problems:
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, scenario=args.scenario, size=args.size, keep=args.keep)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _load(path: Path) -> Any:
    from .routing.config import load_config

    return load_config(path)


def _print_json(results: list[tuple[str, Outcome]]) -> None:
    records = [{"input": name, **outcome.to_json()} for name, outcome in results]
    json.dump({"records": records}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _identity_line(outcome: Outcome) -> str:
    n = outcome.notification
    if n is None:
        return f"{outcome.message_type or 'not a Config message'} ({outcome.status})"
    kind = outcome.transition.kind.value if outcome.transition else "?"
    return f"{n.rule} {n.resource_type} {n.resource_id} in {n.account}/{n.region}: {kind}"


def _print_text(name: str, outcome: Outcome, out: TextIO) -> None:
    out.write(f"{name} {outcome.message.location} [{outcome.message.source}] {outcome.status.upper()}\n")
    if outcome.status == "invalid":
        out.write(f"  error: {outcome.error}\n")
        return
    out.write(f"  {_identity_line(outcome)}\n")
    if outcome.transition is not None:
        out.write(f"  {outcome.transition.old} -> {outcome.transition.new}: {outcome.transition.in_words}\n")
    if outcome.routes:
        out.write(f"  routes: {', '.join(outcome.routes)}\n")
    for delivery in outcome.deliveries:
        ticket = f" {delivery.ticket_action} {delivery.ticket or ''}".rstrip() if delivery.ticket_action else ""
        error = f" ({delivery.error})" if delivery.error else ""
        out.write(f"  -> {delivery.destination} [{delivery.type}]: {delivery.action}{ticket}{error}\n")


def _print_emails(outcome: Outcome, config: Any, renderer: Any) -> None:
    """Show what each email destination would say (explain's preview)."""
    from .destinations.base import Outgoing

    if outcome.notification is None or outcome.transition is None:
        return
    outgoing = Outgoing(outcome.notification, outcome.transition, outcome.routes, outcome.message.message_id)
    for delivery in outcome.deliveries:
        spec = config.destinations[delivery.destination]
        if spec.type != "email":
            continue
        rendered = renderer.render_email(outgoing, spec.template_set)
        body = "\n".join(f"     | {line}" for line in rendered.text.splitlines())
        print(f"     email to {', '.join(spec.options.get('to', []))}\n     Subject: {rendered.subject}\n{body}")


if __name__ == "__main__":
    sys.exit(main())
