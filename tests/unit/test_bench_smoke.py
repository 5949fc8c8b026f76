"""The bench's measurement functions run end to end on one round and return positive numbers.

Timings are never asserted (the machine is shared and noisy); this only keeps `python -m bench`
from rotting as the pipeline, the routing config schema and the renderer evolve.
"""

from __future__ import annotations

from bench import measure, stages

DERIVED_STAGE = "  rest of process (outcome, deliveries, keys)"  # a difference of medians: may dip below 0


def test_every_measure_runs_one_round_and_returns_positive_numbers() -> None:
    ratios = [
        measure.compliance_hot_path(rounds=1, iterations=1, warm_up=1),
        measure.skipped_hot_path(rounds=1, iterations=1, warm_up=1),
        measure.cold_import(runs=1, warm_up=False),
    ]
    for ratio in ratios:
        assert ratio.ratio > 0 and ratio.subject_ns > 0 and ratio.baseline_ns > 0 and ratio.rounds == 1
    costs = [measure.render_cost(rounds=1, iterations=1, warm_up=1), measure.validator_build(runs=1)]
    assert all(cost.ns > 0 for cost in costs)
    for breakdown in (stages.compliance_breakdown(rounds=1, iterations=1), stages.skipped_breakdown(1, 1)):
        measured = {name: ns for name, ns in breakdown.items() if name != DERIVED_STAGE}
        assert len(measured) >= 4 and all(ns > 0 for ns in measured.values()), breakdown


def test_the_package_row_reports_the_zips_deploy_check_built() -> None:
    """Row (h) reads what deploy/check.py built before pytest started (rebuilding here would rewrite the zips
    under tests/deploy's feet, in another worker)."""
    from bench.__main__ import package_rows

    notifier, rules = package_rows(rebuild=False)
    assert notifier.measured.endswith(" MiB") and notifier.target == "≤ 5 MiB"
    assert 0 < float(rules.measured.split()[0]) < float(notifier.measured.split()[0])
