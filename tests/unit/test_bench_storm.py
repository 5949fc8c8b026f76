"""The storm bench runs end to end on a tiny storm (20 notifications, 2 SQS batches) on both backends.

No timing is asserted (the machine is shared); the counts are exact, because the write path of a
baseline first evaluation is fixed: observe + history + one digest append per digest destination."""

from __future__ import annotations

import pytest

from bench.__main__ import storm_rows
from bench.storm import Backend, run_storm


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_the_storm_bench_runs_a_tiny_storm_and_counts_its_writes(backend: Backend) -> None:
    figures = run_storm(backend, 20, accounts=5)
    assert figures.problems == [] and figures.batches == 2
    assert figures.digests == {"audit-file": [20], "security-email": [20]}
    assert figures.intake.store_writes == {"observe": 20, "append_history": 20, "append_digest": 40}
    assert figures.store_writes_per_notification == 4.0
    if backend == "dynamodb":
        assert figures.intake.dynamodb_writes is not None
        assert figures.intake.dynamodb_writes["PutItem"] == 60 and figures.intake.dynamodb_writes["UpdateItem"] == 20
    else:
        assert figures.dynamodb_writes_per_notification is None
    rows = storm_rows(figures)
    assert [row.verdict for row in rows if "≤ 1.1" in row.target] == ["FAIL"] * (2 if backend == "dynamodb" else 1)
    assert rows[-1].verdict == "pass"
