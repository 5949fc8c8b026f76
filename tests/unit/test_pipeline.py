"""Pipeline.process: one bad destination or record never sinks the rest of the batch."""

from __future__ import annotations

from pathlib import Path

from notifier.destinations.base import DestinationSpec, Outgoing
from notifier.envelopes import decode
from notifier.pipeline import Pipeline
from notifier.routing.config import parse_config
from tests.conftest import compliance_message, sns_event

CONFIG = """
destinations:
  broken: {type: file, path: /dev/null}
  fine: {type: file, path: x.jsonl}
routes:
  - name: everything
    match: {transition: [violated, resolved, first_violation]}
    destinations: [broken, fine]
"""


class ExplodingChannel:
    """A channel with a bug: raises something that is not a DeliveryError, with a secret in its text."""

    def __init__(self, spec: DestinationSpec) -> None:
        self.spec = spec

    def send(self, outgoing: Outgoing) -> None:
        raise RuntimeError("token=hunter2 leaked in an exception message")


class RecordingChannel:
    def __init__(self, spec: DestinationSpec) -> None:
        self.spec = spec
        self.sent: list[Outgoing] = []

    def send(self, outgoing: Outgoing) -> None:
        self.sent.append(outgoing)


def test_a_channel_bug_fails_only_its_own_delivery_and_hides_the_message(tmp_path: Path) -> None:
    config = parse_config(CONFIG, "routes.yml", tmp_path)
    fine = RecordingChannel(config.destinations["fine"])

    def connect(spec: DestinationSpec) -> ExplodingChannel | RecordingChannel:
        return ExplodingChannel(spec) if spec.name == "broken" else fine

    pipeline = Pipeline(config.tree, config.destinations, connect=connect)
    messages = decode(sns_event(compliance_message("ComplianceChangeNotification__01_"), "{", compliance_message()))
    outcomes = [pipeline.process(message) for message in messages]
    assert [o.status for o in outcomes] == ["routed", "invalid", "routed"]
    broken = outcomes[0].deliveries[0]
    assert (broken.destination, broken.action) == ("broken", "failed")
    assert broken.error == "unexpected RuntimeError in the file channel" and "hunter2" not in str(outcomes)
    assert [d.action for d in outcomes[0].deliveries] == ["failed", "sent"]
    assert len(fine.sent) == 2


def test_two_routes_naming_one_destination_send_once(tmp_path: Path) -> None:
    config = parse_config(
        CONFIG.replace("destinations: [broken, fine]", "destinations: [fine]\n    continue: true")
        + "  - name: again\n    match: {rule: '*'}\n    destinations: [fine]\n",
        "routes.yml",
        tmp_path,
    )
    fine = RecordingChannel(config.destinations["fine"])
    pipeline = Pipeline(config.tree, config.destinations, connect=lambda spec: fine)
    [message] = decode(compliance_message("ComplianceChangeNotification__01_"))
    outcome = pipeline.process(message)
    assert outcome.routes == ("everything", "again") and len(fine.sent) == 1
