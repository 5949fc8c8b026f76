"""Jira Cloud (REST v3, ADF) against a fake that checks every request against Atlassian's OpenAPI and ADF schema."""

from __future__ import annotations

from typing import Any

from tests.functional.jira_cases import LABEL, Jira, JiraCases, outgoing
from tests.functional.jira_contract import adf_problems, adf_validator
from tests.functional.jira_error_cases import JiraErrorCases

HOSTILE = '<script>alert(1)</script> {code}x{code} [link|http://x] *bold* \\\\ h1. "quoted"'


class TestJiraCloud(JiraCases, JiraErrorCases):
    flavor = "cloud"

    def test_markup_in_resource_ids_and_annotations_stays_text_in_valid_adf(self, jira: Jira) -> None:
        destination = jira.destination()
        ticket = destination.open(outgoing(resource_id=HOSTILE, annotation=HOSTILE), LABEL)
        destination.comment(ticket, outgoing(resource_id=HOSTILE, annotation=HOSTILE))

        issue = jira.issue(ticket)
        for document in (issue.fields["description"], issue.comments[0]):
            # The fake checked it with jsonschema-rs; jsonschema's own Draft4Validator must agree.
            assert list(adf_validator().iter_errors(document)) == []
            texts = list(_text_nodes(document))
            assert HOSTILE in texts  # verbatim, as one text node: not markup, not structure
            assert not any(node.get("type") not in _ALLOWED_NODES for node in _nodes(document))

    def test_the_adf_check_catches_what_jira_would_refuse(self) -> None:
        valid = {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}],
        }
        assert adf_problems("doc", valid) == []
        empty_text = {**valid, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]}
        unknown_mark = {
            **valid,
            "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "x", "marks": [{"type": "blink"}]}]}
            ],
        }
        for bad in (empty_text, unknown_mark, {"type": "doc", "content": []}, "plain text"):
            assert adf_problems("doc", bad), bad

    def test_only_the_current_search_endpoint_is_used(self, jira: Jira) -> None:
        destination = jira.destination()
        destination.find_open(LABEL)
        assert [path for _, path, _ in jira.fake.requests] == ["/rest/api/3/search/jql"]
        assert jira.fake.contract.find("POST", "/rest/api/3/search") is not None  # it exists, deprecated, never used


_ALLOWED_NODES = {"doc", "paragraph", "text", "heading", "bulletList", "listItem"}


def _nodes(node: Any) -> list[dict[str, Any]]:
    if not isinstance(node, dict):
        return []
    return [node, *(child for item in node.get("content") or [] for child in _nodes(item))]


def _text_nodes(document: Any) -> list[str]:
    return [node["text"] for node in _nodes(document) if node.get("type") == "text"]
