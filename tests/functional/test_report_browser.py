"""The HTML report as a browser sees it: Debian's Chromium, headless, loads the file and dumps its DOM.

Checked in the DOM (what the browser built, not what we wrote): the SVG chart with its step path and
one marker per point, its accessible name and axis titles; every table with the expected rows;
attacker-influenced text shown as text. Checked in Chromium's own network log: the page made no
request at all (a control page with one external image proves the log would show one).

No skip: a missing browser fails the test, with how to install it.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from notifier.report import compute_figures, render_html
from notifier.state.base import HistoryEntry
from notifier.transition import Compliance
from tests.state_support import history_entry, notification

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
NOW = datetime(2021, 11, 10, tzinfo=UTC)
HOSTILE_ID = '<img src="https://attacker.example/x.png">&"dev9'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def walk(self) -> list[Node]:
        return [self, *(node for child in self.children for node in child.walk())]

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())]

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)


class TreeBuilder(HTMLParser):
    """Just enough of a DOM for the checks: Chromium's serialisation closes every non-void element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and len(self.stack) > 1:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(Node("#text", {}, text=data))


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: this test renders the report in Debian's Chromium. Install it with "
            "`python3 scripts/ensure_chromium.py` (as root), or `apt-get install -y chromium`."
        )
    return CHROMIUM


def load(chromium: Path, page: Path, workdir: Path) -> tuple[Node, list[str]]:
    """The page's DOM after Chromium loaded it, and the URLs the page itself requested over the network."""
    net_log = workdir / "net-log.json"
    completed = subprocess.run(
        [str(chromium), *FLAGS, f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={net_log}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0 and completed.stdout, f"chromium failed: {completed.stderr[-2000:]}"
    builder = TreeBuilder()
    builder.feed(completed.stdout)
    return builder.root, page_requests(json.loads(net_log.read_text()))


def page_requests(net_log: dict[str, object]) -> list[str]:
    """URL requests started on behalf of a file:// page. Chromium's own background traffic (update
    checks and the like, which the flags do not all stop) belongs to no page, so it is left out."""
    constants = net_log["constants"]
    assert isinstance(constants, dict) and isinstance(net_log["events"], list)
    start_job = constants["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in net_log["events"]
        if event["type"] == start_job and "file://" in event.get("params", {}).get("network_isolation_key", "")
    ]


def history() -> list[HistoryEntry]:
    """Two rules on the fixture's log groups: one resolved in 6 h, two open, one with a hostile id."""

    def change(resource_id: str, at: str, compliance: Compliance, rule: str | None = None) -> HistoryEntry:
        n = notification(at=f"2021-11-{at}:00.000Z", recorded=f"2021-11-{at}:05.000Z", compliance=compliance,
                         resource_id=resource_id)  # fmt: skip
        n = n._replace(rule=rule) if rule else n
        return history_entry(n, recorded_at="2021-11-10T00:00:00.000+00:00")

    return [
        change("dev1", "02T00:00", Compliance.NON_COMPLIANT),
        change("dev1", "02T06:00", Compliance.COMPLIANT),
        change("dev2", "03T00:00", Compliance.NON_COMPLIANT),
        change(HOSTILE_ID, "05T12:00", Compliance.NON_COMPLIANT, rule="s3-encryption"),
    ]


def rows(dom: Node, table_id: str) -> list[list[str]]:
    [table] = dom.find("table", id=table_id)
    return [[" ".join(td.all_text().split()) for td in tr.find("td")] for tr in table.find("tbody")[0].find("tr")]


def test_the_report_renders_its_chart_and_tables_offline(chromium: Path, tmp_path: Path) -> None:
    figures = compute_figures(history(), now=NOW)
    page = tmp_path / "report.html"
    page.write_text(render_html(figures), encoding="utf-8")
    dom, requests = load(chromium, page, tmp_path)

    [svg] = dom.find("svg", id="open-over-time")
    assert svg.attrs["role"] == "img" and svg.attrs["aria-label"].startswith("Open violations over time, from ")
    [title] = [child for child in svg.children if child.tag == "title"]  # markers have their own titles
    assert title.all_text() == "Open violations over time"
    [line] = svg.find("path", **{"class": "series-line"})
    points = figures.open_over_time  # 11-02 1, 06:00 0, 11-03 1, 11-05 12:00 2, and 2 at 11-10
    assert [(p.at.day, p.open) for p in points] == [(2, 1), (2, 0), (3, 1), (5, 2), (10, 2)]
    assert re.fullmatch(r"M[\d.]+ [\d.]+( H[\d.]+ V[\d.]+){4}", line.attrs["d"])
    assert len(svg.find("circle")) == len(points)
    [y_ticks] = svg.find("g", **{"class": "ticks y-ticks"})
    [x_ticks] = svg.find("g", **{"class": "ticks x-ticks"})
    assert [t.all_text() for t in y_ticks.find("text")] == ["0", "1", "2"]
    assert [t.all_text() for t in x_ticks.find("text")] == ["2021-11-03", "2021-11-05", "2021-11-07", "2021-11-09"]
    assert [t.all_text() for t in svg.find("text", **{"class": "axis-title"})] == ["Time (UTC)", "Open violations"]

    assert rows(dom, "open-by-rule") == [["cw-loggroup-retention-period-check-conformance-pack-qayjyopmd", "1"],
                                         ["s3-encryption", "1"]]  # fmt: skip
    assert rows(dom, "open-by-account") == [["746869318262", "2"]]
    assert rows(dom, "open-by-resource-type") == [["AWS::Logs::LogGroup", "2"]]
    oldest = rows(dom, "oldest-open")
    assert [(row[0], row[1], row[-1]) for row in oldest] == [
        ("2021-11-03 00:00 UTC", "7d 0h", "dev2"),
        ("2021-11-05 12:00 UTC", "4d 12h", HOSTILE_ID),  # shown as text: escaped, not parsed
    ]
    resolve = {row[0]: row for row in rows(dom, "time-to-resolve")}
    assert resolve["cw-loggroup-retention-period-check-conformance-pack-qayjyopmd"][1:] == [
        "1", "2", "1", "0", "0", "6h 00m", "6h 00m",
    ]  # fmt: skip
    assert resolve["s3-encryption"][-2:] == ["—", "—"]

    assert not dom.find("img") and not dom.find("script")
    links = [
        value for node in dom.walk() for name, value in node.attrs.items() if name in {"src", "href", "xlink:href"}
    ]
    assert links == []
    csp = [m.attrs["content"] for m in dom.find("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")
    assert requests == []


def test_the_network_check_does_see_a_page_request(chromium: Path, tmp_path: Path) -> None:
    """The control for `requests == []` above: the same log, read the same way, shows a page's request."""
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/pixel.png"></body></html>')
    _, requests = load(chromium, page, tmp_path)
    assert requests == ["http://127.0.0.1:9/pixel.png"]
