"""jsonschema-rs (the hot path) and jsonschema (the explainer) must judge every document alike.

`notification.parse` accepts or rejects with the compiled jsonschema-rs validator and only asks
jsonschema *why* when it rejected. If the two ever disagree, a rejected message gets the generic
fallback sentence (no JSON path) or, worse, a message one of them thinks valid slips through. So:
the real fixtures, then mutations of them (hypothesis), each judged by both, and every rejection
explained by a sentence that starts with the JSON path of what is wrong.

The mutation strategies live here and are reused by `test_bad_input_properties.py`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier import notification
from notifier.notification import explain_invalid, fast_validator, load_schema
from tests.conftest import AWS, CONFIG_SNS, load_json, valid_compliance_messages

FALLBACK = "does not match the ComplianceChangeNotification schema"
# "$", then keys and indexes, then a space and the sentence: "$.newEvaluationResult.annotation is ..."
PATH_THEN_SENTENCE = re.compile(r"^\$(?:\.[A-Za-z]\w*|\[\d+\])* \S")

FIXTURE_PATHS = [
    *sorted(CONFIG_SNS.rglob("*.json")),
    *sorted((AWS / "derived").glob("DERIVED__ComplianceChangeNotification*.json")),
]
_FIXTURES = [load_json(p) for p in FIXTURE_PATHS]
COMPLIANCE_FIXTURES = [f for f in _FIXTURES if f.get("messageType") == "ComplianceChangeNotification"]
OTHER_FIXTURES = [f for f in _FIXTURES if f.get("messageType") != "ComplianceChangeNotification"]  # incl. envelopes

# ---------------------------------------------------------------------------------------------
# Values a mutation puts in
# ---------------------------------------------------------------------------------------------

CONTROL_CHARS = st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028\u2029\ufeff\u200b")
MARKUP = st.sampled_from(
    ["<script>alert(1)</script>", "{{ 7*7 }}", "{% raw %}", "${jndi:ldap://x/a}", "'; DROP TABLE t;--",
     "&lt;b&gt;", '"quoted"', "]]>", "%s%n", "../../etc/passwd", "*bold* <@here>", "\\u0000", "AWS::"]
)
# Long strings sit on both sides of every maxLength in the schema, plus one far beyond.
LONG_TEXT = st.builds(
    lambda char, length: char * length,
    st.sampled_from("xé\n<0"),
    st.sampled_from([127, 128, 129, 255, 256, 257, 767, 768, 769, 2048, 2049, 4096, 4097, 100_000]),
)
TEXT = st.one_of(
    st.text(max_size=30),
    st.lists(CONTROL_CHARS | MARKUP | st.text(max_size=4), max_size=8).map("".join),
    LONG_TEXT,
)


def schema_patterns(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["pattern"]] if isinstance(schema.get("pattern"), str) else []
        return own + [p for value in schema.values() for p in schema_patterns(value)]
    return [p for value in schema for p in schema_patterns(value)] if isinstance(schema, list) else []


# Strings that (almost) satisfy each schema pattern: hypothesis reads "$" as Python does, so these
# include a trailing newline now and then, the classic place two regex engines part ways.
PATTERNISH = st.one_of([st.from_regex(p) for p in sorted(set(schema_patterns(load_schema())))])
ENUM_LIKE = st.sampled_from(
    ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE", "INSUFFICIENT_DATA", "NONE", "compliant", "Compliant",
     " COMPLIANT", "COMPLIANT\n", "NON-COMPLIANT", "DETECTIVE", "PROACTIVE", "detective", "",
     "ComplianceChangeNotification", "ConfigurationItemChangeNotification", "complianceChangeNotification"]
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO-8601-ish timestamps, mostly valid: with/without fraction, Z or offset, and near misses."""
    moment = draw(st.datetimes())
    date = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    separator = draw(st.sampled_from(["T", "T", "T", "t", " "]))
    clock = f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    fraction = draw(st.sampled_from(["", "", ".", ".6", ".619", ".123456", ".123456789", ".1234567890"]))
    offset = draw(st.sampled_from(["Z", "Z", "+00:00", "-08:00", "+0530", "+05", "z", "", " UTC", "Z\n", "+5:30"]))
    return f"{date}{separator}{clock}{fraction}{offset}"


JSON_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "number": st.integers(-(2**63), 2**64) | st.floats(allow_nan=False, allow_infinity=False),
    "string": TEXT,
}
JSON_VALUES = st.recursive(
    st.one_of(*JSON_SCALARS.values()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
BY_JSON_TYPE: dict[str, st.SearchStrategy[Any]] = {
    **JSON_SCALARS,
    "array": st.lists(JSON_VALUES, max_size=3),
    "object": st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=3),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


# ---------------------------------------------------------------------------------------------
# Mutations of a real message
# ---------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]


def node_paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    """The path of every value inside `value` (not `value` itself), depth first."""
    children: list[tuple[str | int, Any]] = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    paths: list[Path_] = []
    for key, child in children:
        paths.append((*prefix, key))
        paths.extend(node_paths(child, (*prefix, key)))
    return paths


def _parent(document: Any, path: Path_) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


def _value_at(document: Any, path: Path_) -> Any:
    return _parent(document, path)[path[-1]]


def _set(document: Any, path: Path_, value: Any) -> None:
    _parent(document, path)[path[-1]] = value


def _paths_where(document: Any, wanted: Callable[[Path_, Any], bool]) -> list[Path_]:
    return [p for p in node_paths(document) if wanted(p, _value_at(document, p))] or node_paths(document)


def _delete(draw: st.DrawFn, document: Any) -> None:
    path = draw(st.sampled_from(node_paths(document)))
    del _parent(document, path)[path[-1]]


def _retype(draw: st.DrawFn, document: Any) -> None:
    path = draw(st.sampled_from(node_paths(document)))
    current = json_type(_value_at(document, path))
    other = draw(st.sampled_from([kind for kind in BY_JSON_TYPE if kind != current]))
    _set(document, path, draw(BY_JSON_TYPE[other]))


def _new_text(draw: st.DrawFn, document: Any) -> None:
    path = draw(st.sampled_from(_paths_where(document, lambda _, v: isinstance(v, str))))
    _set(document, path, draw(TEXT | PATTERNISH))


def _edit_text(draw: st.DrawFn, document: Any) -> None:
    """Keep the real value but pad it: anchors ("^", "$") and lengths are where validators differ."""
    path = draw(st.sampled_from(_paths_where(document, lambda _, v: isinstance(v, str))))
    edges = st.sampled_from(["", "", "\n", "\r\n", " ", "\t", "\x00", "Z", "0", "é", "\u2028"])
    current = _value_at(document, path)
    _set(document, path, f"{draw(edges)}{current}{draw(edges)}" if isinstance(current, str) else draw(edges))


def _new_enum(draw: st.DrawFn, document: Any) -> None:
    enum_keys = ("complianceType", "messageType", "evaluationMode")
    path = draw(st.sampled_from(_paths_where(document, lambda p, _: p[-1] in enum_keys)))
    _set(document, path, draw(ENUM_LIKE))


def _new_timestamp(draw: st.DrawFn, document: Any) -> None:
    path = draw(st.sampled_from(_paths_where(document, lambda p, _: str(p[-1]).endswith(("Time", "Timestamp")))))
    _set(document, path, draw(timestamps()))


def _null(draw: st.DrawFn, document: Any) -> None:
    _set(document, draw(st.sampled_from(node_paths(document))), None)


MUTATIONS = (_delete, _retype, _new_text, _edit_text, _new_enum, _new_timestamp, _null)


@st.composite
def mutated_messages(draw: st.DrawFn, max_mutations: int = 3) -> Any:
    """A real Config message (mostly a compliance change) with 1..max_mutations mutations applied."""
    fixtures = st.sampled_from(COMPLIANCE_FIXTURES)
    document = copy.deepcopy(draw(st.one_of(fixtures, fixtures, fixtures, st.sampled_from(OTHER_FIXTURES))))
    for _ in range(draw(st.integers(1, max_mutations))):
        if not node_paths(document):
            break
        draw(st.sampled_from(MUTATIONS))(draw, document)
    return document


# ---------------------------------------------------------------------------------------------
# The properties
# ---------------------------------------------------------------------------------------------


def assert_validators_agree(document: Any) -> bool:
    """Both validators reach the same verdict; a rejection is explained by path. Returns the verdict."""
    fast = fast_validator()(document)
    explaining = notification._explaining_validator().is_valid(document)
    verdicts = f"jsonschema-rs says valid={fast}, jsonschema says valid={explaining}"
    assert fast == explaining, f"{verdicts}: {document!r:.400}"
    if not fast:
        sentence = explain_invalid(document, "$")
        assert FALLBACK not in sentence, f"no JSON path named for {document!r:.400}"
        assert PATH_THEN_SENTENCE.match(sentence), sentence
        assert len(sentence.splitlines()) == 1, sentence
    return fast


@pytest.mark.parametrize("path", FIXTURE_PATHS, ids=lambda p: p.name[:60])
def test_validators_agree_on_every_fixture(path: Path) -> None:
    assert_validators_agree(load_json(path))


def test_the_genuinely_valid_fixtures_are_accepted_by_both() -> None:
    # Without this the agreement could hold trivially, by both rejecting everything.
    assert all(assert_validators_agree(message) for message in valid_compliance_messages())


@pytest.mark.parametrize("document", [None, True, 0, 1.5, "", "ComplianceChangeNotification", [], [{}], {}])
def test_validators_agree_on_documents_that_are_not_messages(document: Any) -> None:
    assert assert_validators_agree(document) is False


# Each "$"-anchored pattern in the schema, fed its valid value plus a trailing newline: Python's
# re.search lets "$" match before a final "\n", jsonschema-rs follows ECMA-262 and does not.
ANCHORED_FIELDS = [
    ("awsAccountId",),
    ("awsRegion",),
    ("notificationCreationTime",),
    ("newEvaluationResult", "evaluationResultIdentifier", "orderingTimestamp"),
    ("newEvaluationResult", "resultRecordedTime"),
    ("newEvaluationResult", "configRuleInvokedTime"),
]


@pytest.mark.parametrize("field", ANCHORED_FIELDS, ids=".".join)
def test_validators_agree_on_a_trailing_newline_after_an_anchored_value(field: Path_) -> None:
    message = copy.deepcopy(valid_compliance_messages()[0])
    _set(message, field, _value_at(message, field) + "\n")
    assert assert_validators_agree(message) is False  # a newline is not part of an account ID or a time


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_validators_agree_on_mutated_real_messages(document: Any) -> None:
    assert_validators_agree(document)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(COMPLIANCE_FIXTURES), timestamps())
def test_validators_agree_on_every_timestamp_shape(message: dict[str, Any], stamp: str) -> None:
    document = copy.deepcopy(message)
    document["notificationCreationTime"] = stamp
    document["newEvaluationResult"]["evaluationResultIdentifier"]["orderingTimestamp"] = stamp
    assert_validators_agree(document)


def test_the_schema_the_validators_compile_is_the_shipped_file() -> None:
    # Guards the premise: both validators are built from this one schema, not from copies.
    assert load_schema()["$schema"].startswith("http://json-schema.org/draft-07/")
    assert notification._explaining_validator().schema is load_schema()
