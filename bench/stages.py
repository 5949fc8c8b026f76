"""Where the CPU of one message goes: each stage of the hot path timed alone, on the same events.

The stages are timed round-robin (every stage once per round, the median over rounds), so that the
breakdown and the headline ratios come from comparable conditions. "rest of process" is derived:
Pipeline.process minus the stages measured inside it (outcome, deliveries, dedup keys, ...).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import orjson

from notifier.envelopes import decode
from notifier.notification import ComplianceNotification, fast_validator, parse
from notifier.transition import transition

from .events import compliance_event_texts, skipped_event_text
from .measure import routed_pipeline

Stage = tuple[str, Callable[[], object]]


def _compliance_stages() -> tuple[list[Stage], int]:
    pipeline = routed_pipeline()
    assert pipeline.tree is not None
    texts = [text.encode() for text in compliance_event_texts()]
    events = [orjson.loads(text) for text in texts]
    inner = [event["Records"][0]["Sns"]["Message"] for event in events]
    messages = [message for event in events for message in decode(event)]
    notifications = [n for n in map(parse, messages) if isinstance(n, ComplianceNotification)]
    assert len(notifications) == len(messages), "every bench event is a valid compliance change"
    changes = [transition(n.old_compliance, n.new.compliance) for n in notifications]
    pairs = list(zip(notifications, changes, strict=True))
    validator, tree, loads, process = fast_validator(), pipeline.tree, orjson.loads, pipeline.process
    stages: list[Stage] = [
        ("orjson.loads(SNS event text)  [yardstick]", lambda: [loads(t) for t in texts]),
        ("envelopes.decode(event)", lambda: [decode(e) for e in events]),
        ("  of which orjson.loads(Sns.Message)", lambda: [loads(s) for s in inner]),
        ("notification.parse(message)", lambda: [parse(m) for m in messages]),
        ("  of which fast_validator()(body)", lambda: [validator(m.body) for m in messages]),
        ("transition(old, new)", lambda: [transition(n.old_compliance, n.new.compliance) for n in notifications]),
        ("RouteTree.match", lambda: [tree.match(n, c) for n, c in pairs]),
        ("Pipeline.process(send=False)", lambda: [process(m, send=False) for m in messages]),
    ]
    return stages, len(texts)


def _skipped_stages() -> tuple[list[Stage], int]:
    pipeline = routed_pipeline()
    text = skipped_event_text().encode()
    event = orjson.loads(text)
    inner = event["Records"][0]["Sns"]["Message"]
    [message] = decode(event)
    loads, process = orjson.loads, pipeline.process
    stages: list[Stage] = [
        ("orjson.loads(SNS event text)  [yardstick]", lambda: loads(text)),
        ("envelopes.decode(event)", lambda: decode(event)),
        ("  of which orjson.loads(Sns.Message)", lambda: loads(inner)),
        ("Pipeline.process(send=False)", lambda: process(message, send=False)),
    ]
    return stages, 1


def _round_robin(stages: list[Stage], per_call: int, rounds: int, iterations: int) -> dict[str, float]:
    """Median ns per message of each stage."""
    samples: dict[str, list[float]] = {name: [] for name, _ in stages}
    for _, operation in stages:  # warm-up
        for _ in range(min(iterations, 50)):
            operation()
    for _ in range(rounds):
        for name, operation in stages:
            start = time.process_time_ns()
            for _ in range(iterations):
                operation()
            samples[name].append((time.process_time_ns() - start) / iterations / per_call)
    return {name: statistics.median(values) for name, values in samples.items()}


def _with_rest(costs: dict[str, float], inside_process: tuple[str, ...]) -> dict[str, float]:
    rest = costs["Pipeline.process(send=False)"] - sum(costs[name] for name in inside_process)
    return {**costs, "  rest of process (outcome, deliveries, keys)": rest}


def compliance_breakdown(rounds: int, iterations: int = 300) -> dict[str, float]:
    stages, per_call = _compliance_stages()
    costs = _round_robin(stages, per_call, rounds, iterations)
    return _with_rest(costs, ("notification.parse(message)", "transition(old, new)", "RouteTree.match"))


def skipped_breakdown(rounds: int, iterations: int = 1000) -> dict[str, float]:
    stages, per_call = _skipped_stages()
    return _round_robin(stages, per_call, rounds, iterations)
