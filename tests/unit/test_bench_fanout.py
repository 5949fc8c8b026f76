"""The fan-out bench runs end to end on a small, fast batch and reports consistent numbers.

Like the other bench smoke test, no timing is asserted beyond what holds on any machine: a batch of
one-by-one deliveries cannot be faster than a single call, nor the concurrent batch slower than it."""

from __future__ import annotations

from bench.fanout import fan_out, webhook_config


def test_the_fan_out_bench_measures_a_small_batch() -> None:
    figures = fan_out(rounds=1, delay=0.05, notifications=3, destinations=2)
    assert figures.calls == 6 and figures.rounds == 1
    assert figures.one_call_s >= 0.05 and figures.batch_s >= 0.05
    assert figures.sequential_s is not None and figures.sequential_s >= 6 * 0.05
    assert figures.sequential_ratio is not None and figures.sequential_ratio > figures.ratio
    assert figures.peak_in_flight >= 2  # the deliveries overlapped


def test_the_bench_config_routes_every_change_to_every_webhook() -> None:
    config = webhook_config("http://127.0.0.1:9", 3)
    assert "destinations: [hook-0, hook-1, hook-2]" in config
    assert config.count("type: webhook") == 3 and "env:FANOUT_WEBHOOK_SECRET" in config
