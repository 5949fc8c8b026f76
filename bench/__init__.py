"""`python -m bench`: where the CPU of one Config message goes, against fixed yardsticks.

Every figure is a ratio to something measured in the same run on the same events (orjson.loads of
the same text, `import boto3` in the same kind of fresh interpreter), because absolute timings on a
shared, noisy machine mean little. Competitors are interleaved in rounds (A B, then B A, ...) and
the median of the per-round ratios is reported, so a burst of noise lands on one round, not on one
competitor. It is a report, not a test: the exit code is always 0.

Modules:
  events.py   the inputs, built here from the real AWS fixtures (bench never imports tests/)
  measure.py  the measurement functions, each returning plain numbers (tests/unit/test_bench_smoke.py)
  __main__.py runs them all and prints the table
"""

from __future__ import annotations
