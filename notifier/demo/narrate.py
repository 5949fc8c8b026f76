"""The demo's progress display: numbered steps, short indented lines, aligned tables.

Plain text on stdout, flushed line by line: it reads the same in a terminal, a CI log or a pipe (a test
waits for a line of `demo --keep` while the process is still running, so nothing may sit in a buffer).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

INDENT = "      "


class Narrator:
    def __init__(self, steps: int, out: TextIO | None = None) -> None:
        self.steps = steps
        self._out = out
        self._started = time.monotonic()
        self._step_started = self._started
        self.timings: list[tuple[str, float]] = []  # (step title, seconds), for the summary

    def title(self, text: str) -> None:
        self._write(text)

    def step(self, number: int, title: str) -> None:
        self._close_step()
        self._step_started = time.monotonic()
        self.timings.append((title, 0.0))
        self._write(f"\n[{number}/{self.steps}] {title}")

    def say(self, text: str = "") -> None:
        self._write(f"{INDENT}{text}" if text else "")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Columns as wide as their widest cell; numbers right-aligned, text left-aligned."""
        cells = [[str(cell) for cell in row] for row in [header, *rows]]
        widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
        numeric = [all(str(row[column]).isdigit() for row in rows) and bool(rows) for column in range(len(header))]
        for index, row in enumerate(cells):
            line = "  ".join(
                cell.rjust(width) if numeric[column] else cell.ljust(width)
                for column, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            self.say(line.rstrip())
            if index == 0:
                self.say("  ".join("-" * width for width in widths))

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def finish(self) -> None:
        self._close_step()

    def _close_step(self) -> None:
        if self.timings and self.timings[-1][1] == 0.0:
            title, _ = self.timings[-1]
            self.timings[-1] = (title, time.monotonic() - self._step_started)

    def _write(self, line: str) -> None:
        out = self._out or sys.stdout  # the stdout of the moment: tests capture it
        out.write(line + "\n")
        out.flush()


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """What a Lambda prints (JSON logs on stderr, EMF metrics and rule log lines on stdout) goes to a file,
    as CloudWatch Logs would keep it: the narration stays readable and the lines stay available."""
    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield
