"""The `file` destination (JSON lines, concurrent appends) and the registry that builds destinations."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.destinations.file import FileDestination
from notifier.destinations.registry import CHANNELS, BuildContext, build_destination
from notifier.envelopes import InboundMessage
from notifier.errors import DeliveryError, NotifierError
from notifier.notification import ComplianceNotification, parse
from notifier.render import Renderer
from notifier.secrets import SecretResolver
from notifier.transition import transition
from tests.conftest import compliance_message

CONTEXT = BuildContext(Renderer(), SecretResolver(environ={}), client_factory=lambda service, region: None)


def outgoing(annotation: str | None = None) -> Outgoing:
    # The AWS Config first-evaluation fixture: no oldEvaluationResult, so the change is NONE -> NON_COMPLIANT.
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__03_")))
    assert isinstance(parsed, ComplianceNotification)
    notification = parsed
    if annotation is not None:
        notification = parsed._replace(new=parsed.new._replace(annotation=annotation))
    return Outgoing(
        notification, transition(notification.old_compliance, notification.new.compliance), ("audit",), "sns-1"
    )


def file_destination(path: Path, name: str = "audit-log") -> FileDestination:
    destination = build_destination(DestinationSpec(name, "file", {"path": str(path)}), CONTEXT)
    assert isinstance(destination, FileDestination)
    return destination


def test_appends_one_json_record_per_delivery_creating_parents(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "deliveries.jsonl"
    destination = file_destination(path)
    sent = outgoing()
    destination.send(sent)
    destination.send(sent)

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    n = sent.notification
    assert record["destination"] == "audit-log"
    assert record["routes"] == ["audit"]
    assert record["message_id"] == "sns-1"
    assert record["transition"] == {"kind": "first_violation", "from": "NONE", "to": "NON_COMPLIANT"}
    assert record["notification"] == {
        "account": n.account,
        "region": n.region,
        "rule": n.rule,
        "rule_arn": n.rule_arn,
        "resource_type": n.resource_type,
        "resource_id": n.resource_id,
        "annotation": n.new.annotation,
        "ordering_timestamp": n.new.ordering_timestamp,
        "recorded_at": n.new.recorded_at,
        "previous_ordering_timestamp": None,
        "created_at": n.created_at,
        "record_version": n.record_version,
    }
    assert record["delivered_at"].endswith("Z")
    assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0  # not world-readable


def test_line_breaking_characters_never_split_a_record(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    annotation = "one\ntwo\r\u2028three\u2029four\x85five ünïcode"
    file_destination(path).send(outgoing(annotation))
    lines = path.read_text(encoding="utf-8").splitlines()  # splitlines() breaks on U+2028/2029/0085 too
    assert len(lines) == 1
    assert json.loads(lines[0])["notification"]["annotation"] == annotation


def _append_many(path: str, writer: int, count: int) -> None:
    destination = file_destination(Path(path), name=f"writer-{writer}")
    big = outgoing("x" * 20_000)  # records far larger than a pipe buffer or a page
    for _ in range(count):
        destination.send(big)


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "shared.jsonl"
    writers, each = 4, 50
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_append_many, args=(str(path), w, each)) for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]  # any torn or interleaved line fails to parse
    assert len(records) == writers * each
    assert {r["destination"] for r in records} == {f"writer-{w}" for w in range(writers)}


def test_a_path_that_cannot_exist_is_a_permanent_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DeliveryError, match="cannot append to") as caught:
        file_destination(blocker / "deliveries.jsonl").send(outgoing())
    assert caught.value.retryable is False


def test_a_file_destination_needs_a_path() -> None:
    with pytest.raises(NotifierError, match="needs a path"):
        build_destination(DestinationSpec("audit", "file", {}), CONTEXT)


def test_unknown_type_is_refused_with_the_known_ones() -> None:
    with pytest.raises(NotifierError, match=r"unknown type 'pager'.*email.*file"):
        build_destination(DestinationSpec("p", "pager", {}), CONTEXT)


def test_types_not_shipped_yet_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CHANNELS, "carrier-pigeon", "notifier.destinations.carrier_pigeon:create")
    with pytest.raises(NotifierError, match="'carrier-pigeon' is not available in this version yet"):
        build_destination(DestinationSpec("p", "carrier-pigeon", {}), CONTEXT)


def test_channel_modules_are_imported_only_when_used() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from notifier.destinations.registry import build_destination\n"
        "assert 'notifier.destinations.email' not in sys.modules\n"
        "assert 'smtplib' not in sys.modules\n"
        "print('lazy')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.stdout.strip() == "lazy", done.stderr
