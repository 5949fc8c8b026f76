"""The measurements. Each returns plain numbers; `__main__` compares them with the targets.

In-process figures are CPU time (`time.process_time_ns`): what a Lambda bills and what another
process on the machine cannot inflate. Import and build figures are wall time
(`time.perf_counter_ns`) taken inside a fresh interpreter: a cold start waits on the disk too.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from notifier.destinations.base import Outgoing
from notifier.envelopes import InboundMessage, decode
from notifier.notification import ComplianceNotification, parse
from notifier.pipeline import Pipeline
from notifier.resources import PROJECT_ROOT
from notifier.routing.config import parse_config
from notifier.transition import transition

from .events import ROUTING_CONFIG, compliance_event_texts, skipped_event_text, valid_compliance_messages

# Each competitor runs ~20 ms of CPU per round: long enough to time, short enough to interleave often.
ROUND_TARGET_NS = 20_000_000


@dataclass(frozen=True, slots=True)
class Ratio:
    """Median over rounds of subject/baseline, with each side's median cost per operation."""

    ratio: float
    subject_ns: float
    baseline_ns: float
    rounds: int


@dataclass(frozen=True, slots=True)
class Cost:
    """Median cost of one operation over rounds (no yardstick)."""

    ns: float
    rounds: int


def interleaved_ratio(
    subject: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int,
    iterations: int | None = None,
    clock: Callable[[], int] = time.process_time_ns,
) -> Ratio:
    """Run subject and baseline alternately (A B, B A, ...) and take the median per-round ratio."""
    iterations = iterations or _calibrated_iterations(subject, baseline, clock)
    ratios: list[float] = []
    subject_times: list[int] = []
    baseline_times: list[int] = []
    for round_index in range(rounds):
        if round_index % 2 == 0:
            subject_time, baseline_time = _timed(subject, iterations, clock), _timed(baseline, iterations, clock)
        else:
            baseline_time, subject_time = _timed(baseline, iterations, clock), _timed(subject, iterations, clock)
        subject_times.append(subject_time)
        baseline_times.append(baseline_time)
        ratios.append(subject_time / max(baseline_time, 1))
    return Ratio(
        ratio=statistics.median(ratios),
        subject_ns=statistics.median(subject_times) / iterations,
        baseline_ns=statistics.median(baseline_times) / iterations,
        rounds=rounds,
    )


def _timed(operation: Callable[[], object], iterations: int, clock: Callable[[], int]) -> int:
    start = clock()
    for _ in range(iterations):
        operation()
    return clock() - start


def _calibrated_iterations(
    subject: Callable[[], object], baseline: Callable[[], object], clock: Callable[[], int]
) -> int:
    """Enough iterations that the cheaper competitor takes about ROUND_TARGET_NS per round."""
    cheapest = min(_timed(subject, 10, clock), _timed(baseline, 10, clock)) / 10
    return max(10, int(ROUND_TARGET_NS / max(cheapest, 1)))


def _warm(*operations: Callable[[], object], times: int = 50) -> None:
    """Compile the validators, fill regex and template caches, let the allocator settle."""
    for operation in operations:
        for _ in range(times):
            operation()


def routed_pipeline() -> Pipeline:
    """The pipeline `explain` runs: a real compiled route tree, no state store, nothing sent."""
    config = parse_config(ROUTING_CONFIG, "bench:routes.yml", PROJECT_ROOT)
    return Pipeline(config.tree, config.destinations)


def _pipeline_over(texts: list[bytes], pipeline: Pipeline) -> Callable[[], object]:
    """Exactly what the Lambda does up to delivery, from the raw event text: parse, decode, process."""
    loads, process = orjson.loads, pipeline.process

    def run() -> None:
        for text in texts:
            for message in decode(loads(text)):
                process(message, send=False)

    return run


def _orjson_over(texts: list[bytes]) -> Callable[[], object]:
    loads = orjson.loads

    def run() -> None:
        for text in texts:
            loads(text)

    return run


def per_message(ratio: Ratio, messages: int) -> Ratio:
    return Ratio(ratio.ratio, ratio.subject_ns / messages, ratio.baseline_ns / messages, ratio.rounds)


def compliance_hot_path(rounds: int, iterations: int | None = None, warm_up: int = 50) -> Ratio:
    """(a) A ComplianceChangeNotification in an SNS event, decoded → validated → transition → routed."""
    texts = [text.encode() for text in compliance_event_texts()]
    subject, baseline = _pipeline_over(texts, routed_pipeline()), _orjson_over(texts)
    _warm(subject, baseline, times=warm_up)
    return per_message(interleaved_ratio(subject, baseline, rounds=rounds, iterations=iterations), len(texts))


def skipped_hot_path(rounds: int, iterations: int | None = None, warm_up: int = 50) -> Ratio:
    """(b) A ConfigurationItemChangeNotification in an SNS event: decoded, recognised, skipped."""
    texts = [skipped_event_text().encode()]
    subject, baseline = _pipeline_over(texts, routed_pipeline()), _orjson_over(texts)
    _warm(subject, baseline, times=warm_up)
    return interleaved_ratio(subject, baseline, rounds=rounds, iterations=iterations)


def sample_outgoing() -> list[Outgoing]:
    """One Outgoing per valid fixture message, as the pipeline would hand it to an email destination."""
    outgoing = []
    for index, message in enumerate(valid_compliance_messages()):
        notification = parse(InboundMessage("config", "$", body=message))
        assert isinstance(notification, ComplianceNotification)
        change = transition(notification.old_compliance, notification.new.compliance)
        outgoing.append(Outgoing(notification, change, ("iam-user-policies",), f"message-{index}"))
    return outgoing


def render_cost(rounds: int, iterations: int | None = None, warm_up: int = 20) -> Cost:
    """(d) CPU to render the default email (subject, text and HTML) for one message."""
    from notifier.render import Renderer

    renderer, messages = Renderer(), sample_outgoing()

    def render_all() -> None:
        for outgoing in messages:
            renderer.render_email(outgoing)

    _warm(render_all, times=warm_up)
    iterations = iterations or _calibrated_iterations(render_all, render_all, time.process_time_ns)
    times = [_timed(render_all, iterations, time.process_time_ns) for _ in range(rounds)]
    return Cost(statistics.median(times) / iterations / len(messages), rounds)


# Code run in a fresh interpreter; it prints the nanoseconds the measured statement took.
_IMPORT_SNIPPET = "import time; t = time.perf_counter_ns(); import {module}; print(time.perf_counter_ns() - t)"
_VALIDATOR_SNIPPET = (
    "import time, notifier.notification as n; t = time.perf_counter_ns(); n.{builder}(); "
    "print(time.perf_counter_ns() - t)"
)


def in_fresh_interpreter(code: str, cwd: Path = PROJECT_ROOT) -> int:
    """Nanoseconds printed by `code` run with `python -c` in a new process (its own imports, its own caches)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


def cold_import(runs: int, warm_up: bool = True) -> Ratio:
    """(c) `import notifier.handler` against `import boto3`, each in a fresh interpreter, interleaved."""
    handler = _IMPORT_SNIPPET.format(module="notifier.handler")
    boto3 = _IMPORT_SNIPPET.format(module="boto3")
    if warm_up:  # bytecode caches written, files in the page cache: every run then starts alike
        in_fresh_interpreter(handler), in_fresh_interpreter(boto3)
    ratios, handler_times, boto3_times = [], [], []
    for run in range(runs):
        first, second = (handler, boto3) if run % 2 == 0 else (boto3, handler)
        timings = {first: in_fresh_interpreter(first), second: in_fresh_interpreter(second)}
        handler_times.append(timings[handler])
        boto3_times.append(timings[boto3])
        ratios.append(timings[handler] / timings[boto3])
    return Ratio(statistics.median(ratios), statistics.median(handler_times), statistics.median(boto3_times), runs)


def validator_build(runs: int, builder: str = "fast_validator") -> Cost:
    """(e) First call of a cached validator builder in a fresh interpreter: import + compile, once per cold start."""
    times = [in_fresh_interpreter(_VALIDATOR_SNIPPET.format(builder=builder)) for _ in range(runs)]
    return Cost(statistics.median(times), runs)
