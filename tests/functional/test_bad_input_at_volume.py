"""Bad input at volume: 10,000 mutated real payloads mixed into good SQS batches of 10 through the
Lambda handler. No crash; each bad record dead-lettered with a reason; every good one delivered once."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from notifier import handler
from notifier.app import build_pipeline
from notifier.routing.config import parse_config
from notifier.state import MemoryState
from tests.conftest import sns_json, sqs_record, valid_compliance_messages

BAD, GOOD, BATCH = 10_000, 1_000, 10
CONFIG = """
destinations:
  audit: {type: file, path: audit.jsonl}
routes:
  - name: all
    match: {transition: [first_violation, violated, resolved, retired, benign, data_gap]}
    destinations: [audit]
    baseline: false   # first evaluations delivered one by one: this test counts deliveries, not digests
"""


def _delete_required(m: dict[str, Any], rng: random.Random) -> str:
    del m[rng.choice(["awsAccountId", "awsRegion", "configRuleName", "resourceType", "resourceId"])]
    return json.dumps(m)


def _bad_state(m: dict[str, Any], rng: random.Random) -> str:
    m["newEvaluationResult"]["complianceType"] = rng.choice(["BROKEN", "compliant", "", "<b>NON</b>", "\x00"])
    return json.dumps(m)


def _bad_account(m: dict[str, Any], rng: random.Random) -> str:
    m["awsAccountId"] = rng.choice([123456789012, "12345", None, ["123456789012"], "1234567890123"])
    return json.dumps(m)


def _truncated(m: dict[str, Any], rng: random.Random) -> str:
    text = json.dumps(m)
    return text[: rng.randrange(1, len(text) - 1)]


def _wrong_type(m: dict[str, Any], rng: random.Random) -> str:
    m[rng.choice(["newEvaluationResult", "resourceId", "notificationCreationTime"])] = rng.choice([7, [], True, {}])
    return json.dumps(m)


MUTATIONS: list[Callable[[dict[str, Any], random.Random], str]] = [
    _delete_required, _bad_state, _bad_account, _truncated, _wrong_type,
]  # fmt: skip


def good_message(index: int, base: list[dict[str, Any]]) -> str:
    message = copy.deepcopy(base[index % len(base)])
    resource = f"{message['resourceId']}-{index}"
    message["resourceId"] = resource
    for side in ("newEvaluationResult", "oldEvaluationResult"):
        if message.get(side):
            message[side]["evaluationResultIdentifier"]["evaluationResultQualifier"]["resourceId"] = resource
    return json.dumps(message)


def test_ten_thousand_bad_payloads_in_good_batches(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    base = valid_compliance_messages()
    bodies: list[tuple[str, bool]] = []
    for index in range(BAD):
        mutate = MUTATIONS[index % len(MUTATIONS)]
        bodies.append((mutate(copy.deepcopy(rng.choice(base)), rng), False))
    bodies += [(good_message(index, base), True) for index in range(GOOD)]
    rng.shuffle(bodies)

    dead: list[tuple[str, dict[str, str]]] = []
    handler.set_pipeline(build_pipeline(parse_config(CONFIG, "r.yml", tmp_path), state=MemoryState()))
    handler.set_dead_letter_sender(lambda body, attributes: dead.append((body, attributes)))
    try:
        for start in range(0, len(bodies), BATCH):
            chunk = bodies[start : start + BATCH]
            records = [
                sqs_record(json.dumps(sns_json(body)) if index % 2 else body, message_id=f"m{start + index}")
                for index, (body, _) in enumerate(chunk)
            ]
            answer = handler.lambda_handler({"Records": records}, None)
            assert answer == {"batchItemFailures": []}
    finally:
        handler.set_pipeline(None)
        handler.set_dead_letter_sender(None)

    assert len(dead) == BAD
    assert all(attributes["reason"].startswith("invalid: $") for _, attributes in dead)
    delivered = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(delivered) == GOOD
    assert len({json.loads(line)["notification"]["resource_id"] for line in delivered}) == GOOD
