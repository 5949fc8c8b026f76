"""The storm bench runs end to end on a tiny storm (40 notifications, 4 SQS batches) on both backends.

No timing is asserted (the machine is shared); the counts are exact, because the write path of a
baseline first evaluation is fixed: one `observe_and_hold` per notification, stored as one write request
(SQLite: one transaction; DynamoDB: one TransactWriteItems) holding 4 items (the record, one digest item
per digest destination, the history entry); plus, on DynamoDB, one transaction of 2 items (the bucket's
head and the group's CURRENT pointer) per destination and window. On SQLite those 2 rows per window ride
in the first notification's transaction."""

from __future__ import annotations

import pytest

from bench.__main__ import storm_rows
from bench.storm import Backend, run_storm

SIZE = 40
WINDOW_OPENINGS = 2  # one per digest destination


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"])
def test_the_storm_bench_runs_a_tiny_storm_and_counts_its_writes(backend: Backend) -> None:
    figures = run_storm(backend, SIZE, accounts=5)
    assert figures.problems == [] and figures.batches == 4
    assert figures.digests == {"audit-file": [SIZE], "security-email": [SIZE]}
    assert figures.intake.store_writes == {"observe_and_hold": SIZE}
    assert figures.intake.items_written == SIZE * 4 + WINDOW_OPENINGS * 2
    if backend == "dynamodb":
        assert figures.intake.write_requests == {"TransactWriteItems": SIZE + WINDOW_OPENINGS}
        assert figures.intake.transactional_items == figures.intake.items_written  # every one billed twice
        assert figures.write_units_per_notification == (SIZE * 8 + WINDOW_OPENINGS * 4) / SIZE
        assert figures.flush.write_requests["BatchWriteItem"] == 2 * 2  # 40 items each: 25 + 15
    else:
        assert figures.intake.write_requests == {"transaction": SIZE}
        assert figures.write_units_per_notification is None
    assert figures.write_requests_per_notification <= 1.1
    rows = storm_rows(figures)
    assert [row.verdict for row in rows if "≤ 1.1" in row.target] == ["pass", "pass"]
    assert rows[-1].verdict == "pass"
