"""Jira Data Center (REST v2, wiki markup, bearer PAT) against a fake checking Atlassian's DC 10.3 OpenAPI.

The DC spec is read from ../shared/contracts/jira-dc/ beside the checkout (it may not be redistributed);
without it these tests fail and say so.
"""

from __future__ import annotations

import re

from tests.functional.jira_cases import LABEL, Jira, JiraCases, outgoing
from tests.functional.jira_contract import DC_SPEC
from tests.functional.jira_error_cases import JiraErrorCases

HOSTILE = (
    "<script>alert(1)</script> {code}x{code} [link|http://x] *bold* \\ h1. #1"
    " _it_ -del- +ins+ ^sup^ ~sub~ ??cite?? !img.png! |cell| &amp;"
)
# Markup in HOSTILE that must never reach Jira without a backslash before it.
RAW_MARKUP = ("{code}", "[link|", "*bold*", "_it_", "-del-", "+ins+", "^sup^", "~sub~", "??cite??", "!img", "|cell|")


class TestJiraDataCenter(JiraCases, JiraErrorCases):
    flavor = "datacenter"

    def test_the_dc_contract_is_read_from_beside_the_checkout_not_the_repo(self) -> None:
        assert DC_SPEC.is_file(), f"missing {DC_SPEC}"
        assert "tests/contracts" not in str(DC_SPEC.resolve())

    def test_wiki_markup_in_resource_ids_and_annotations_is_escaped(self, jira: Jira) -> None:
        destination = jira.destination()
        ticket = destination.open(outgoing(resource_id=HOSTILE, annotation=HOSTILE), LABEL)
        destination.comment(ticket, outgoing(resource_id=HOSTILE, annotation=HOSTILE))

        issue = jira.issue(ticket)
        for markup in (issue.fields["description"], issue.comments[0]):
            assert isinstance(markup, str)
            text = _CONSOLE_LINK.sub("", markup)  # link targets are percent-encoded URLs, checked below
            for raw in RAW_MARKUP:
                assert not re.search(r"(?<!\\)" + re.escape(raw), text), raw  # only ever with a backslash before it
            assert "\\{code\\}x\\{code\\}" in text and "\\[link\\|http&#58;//x\\]" in text and "\\*bold\\*" in text
            assert "&#92;" in text and "&amp;amp;" in text and "\\#1" in text
            assert "\\\\" not in text  # a double backslash is a forced line break in wiki markup
            for target in _CONSOLE_LINK.findall(markup):
                assert not set(target) & set("[]|{} \\"), target


_CONSOLE_LINK = re.compile(r"\|(https://[^\]]*)\]")
