"""The sandboxed renderer: autoescape where it belongs, strictness, overrides, header-safe subjects."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.destinations.base import Outgoing
from notifier.envelopes import InboundMessage
from notifier.notification import ComplianceNotification, parse
from notifier.render import (
    MAX_SUBJECT_CHARS,
    Renderer,
    RenderError,
    console_links,
    header_safe,
    message_context,
)
from notifier.transition import Compliance, transition
from tests.conftest import compliance_message

SCRIPT = "<script>alert('x')</script>"


def real_outgoing(*, resource_id: str | None = None, annotation: str | None = None) -> Outgoing:
    """The CloudWatch log group fixture (COMPLIANT -> NON_COMPLIANT), optionally with hostile values."""
    parsed = parse(InboundMessage("config", "$", body=compliance_message("ComplianceChangeNotification__02_")))
    assert isinstance(parsed, ComplianceNotification)
    notification = parsed
    if resource_id is not None:
        notification = notification._replace(resource_id=resource_id)
    if annotation is not None:
        new = notification.new._replace(annotation=annotation)
        notification = notification._replace(new=new)
    return Outgoing(
        notification,
        transition(notification.old_compliance, notification.new.compliance),
        ("iam-violations", "audit"),
        "b9b7cc28-5d76-5e3a-9dbd-5ddbd1a0cbe2",
    )


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def test_default_email_says_what_happened_where(renderer: Renderer) -> None:
    rendered = renderer.render_email(real_outgoing())
    for part in (rendered.text, rendered.html):
        assert "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd" in part
        assert "AWS::Logs::LogGroup" in part
        assert "746869318262" in part and "ap-southeast-2" in part
        assert "became non-compliant" in part
        assert "COMPLIANT" in part and "NON_COMPLIANT" in part
        assert "retentionInDays is less than MinRetentionTime 545 days" in part
        assert "2021-11-01 06:45:35 UTC" in part
        assert "iam-violations" in part and "audit" in part
    resource_link = (
        "https://ap-southeast-2.console.aws.amazon.com/config/home?region=ap-southeast-2"
        "#/resources/details?resourceId=dev1&resourceType=AWS%3A%3ALogs%3A%3ALogGroup"
    )
    assert resource_link in rendered.text
    assert resource_link.replace("&", "&amp;") in rendered.html  # an attribute value, correctly escaped
    assert rendered.subject == (
        "[VIOLATION] AWS::Logs::LogGroup dev1 became non-compliant "
        "(cw-loggroup-retention-period-check-conformance-pack-qayjyopmd, 746869318262 ap-southeast-2)"
    )
    assert "#b91c1c" in rendered.html  # red for a violation


@pytest.mark.parametrize(
    ("old", "new", "words", "colour"),
    [
        (Compliance.NON_COMPLIANT, Compliance.COMPLIANT, "is compliant again", "#15803d"),
        (Compliance.NONE, Compliance.NON_COMPLIANT, "is non-compliant on its first evaluation", "#b91c1c"),
        (Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE, "no longer in scope", "#6b7280"),
    ],
)
def test_colour_and_words_follow_the_transition(
    renderer: Renderer, old: Compliance, new: Compliance, words: str, colour: str
) -> None:
    outgoing = real_outgoing()._replace(transition=transition(old, new))
    rendered = renderer.render_email(outgoing)
    assert words in rendered.text and words in rendered.html and words in rendered.subject
    assert colour in rendered.html
    for other in {"#15803d", "#b91c1c", "#6b7280"} - {colour}:
        assert other not in rendered.html


def test_html_is_autoescaped_but_text_is_not(renderer: Renderer) -> None:
    rendered = renderer.render_email(real_outgoing(resource_id=f"id{SCRIPT}", annotation=f"note {SCRIPT}"))
    assert "<script>" not in rendered.html
    assert "note &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in rendered.html
    assert "id&lt;script&gt;" in rendered.html
    # In the link the id is percent-quoted: it cannot close the href attribute or add parameters.
    assert "resourceId=id%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E&amp;resourceType=" in rendered.html
    # text/plain shows the characters as they are: escaping there would garble what people read.
    assert f"note {SCRIPT}" in rendered.text
    assert "&lt;" not in rendered.text


def test_subject_cannot_break_a_header(renderer: Renderer) -> None:
    hostile = "evil\r\nBcc: attacker@example.com\tand\x00more\x1b[31m\x7f\u2028\u2029\x85end"
    rendered = renderer.render_email(real_outgoing(resource_id=hostile))
    assert "evil Bcc: attacker@example.com and more [31m end" in rendered.subject
    assert not any(ch in rendered.subject for ch in "\r\n\t\x00\x1b\x7f\u2028\u2029\x85")
    assert "  " not in rendered.subject


def test_subject_is_capped_with_an_ellipsis(renderer: Renderer) -> None:
    rendered = renderer.render_email(real_outgoing(resource_id="x" * 700))
    assert len(rendered.subject) == MAX_SUBJECT_CHARS
    assert rendered.subject.endswith("…")
    assert rendered.subject.startswith("[VIOLATION] AWS::Logs::LogGroup xxx")


def test_header_safe_leaves_ordinary_text_alone() -> None:
    assert header_safe("  Résumé — ok  ") == "Résumé — ok"
    assert header_safe("a" * 10, limit=5) == "aaaa…"


def test_console_links_quote_every_user_value() -> None:
    links = console_links("eu-west-1", "my rule&x=1", "AWS::S3::Bucket", "a#b?c")
    assert links["resource"] == (
        "https://eu-west-1.console.aws.amazon.com/config/home?region=eu-west-1"
        "#/resources/details?resourceId=a%23b%3Fc&resourceType=AWS%3A%3AS3%3A%3ABucket"
    )
    assert links["rule"].endswith("#/rules/details?configRuleName=my%20rule%26x%3D1")
    assert console_links("cn-north-1", "r", "t", "i")["rule"].startswith("https://cn-north-1.console.amazonaws.cn/")


def test_context_exposes_the_documented_names() -> None:
    context = message_context(real_outgoing())
    assert context["transition"].in_words == "became non-compliant"
    assert (context["kind"], context["from"], context["to"]) == ("violated", "COMPLIANT", "NON_COMPLIANT")
    assert context["happened_at"] == "2021-11-01T06:45:35.797Z"
    assert context["recorded_at"] == "2021-11-01T06:45:51.716Z"
    assert context["routes"] == ["iam-violations", "audit"]


def write_set(
    root: Path, name: str, subject: str | None = None, text: str | None = None, html: str | None = None
) -> None:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, content in (("subject.txt.j2", subject), ("body.txt.j2", text), ("body.html.j2", html)):
        if content is not None:
            (folder / file_name).write_text(content)


def test_user_templates_override_the_bundled_ones_file_by_file(tmp_path: Path) -> None:
    write_set(tmp_path, "default", subject="Custom: {{ rule }} {{ transition.in_words }}")
    rendered = Renderer(tmp_path).render_email(real_outgoing())
    rule = "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd"
    assert rendered.subject == f"Custom: {rule} became non-compliant"
    assert "Resource in the AWS Config console" in rendered.text  # the body still comes from the bundled set


def test_a_user_template_set_is_used_by_name(tmp_path: Path) -> None:
    write_set(
        tmp_path,
        "terse",
        subject="{{ kind }}",
        text="{{ resource_id }}",
        html="<b>{{ annotation }}</b>",
    )
    rendered = Renderer(tmp_path).render_email(real_outgoing(annotation="a < b"), "terse")
    assert (rendered.subject, rendered.text, rendered.html) == ("violated", "dev1\n", "<b>a &lt; b</b>")


def test_strict_undefined_fails_on_a_typo(tmp_path: Path) -> None:
    write_set(tmp_path, "typo", subject="{{ rule }}", text="ok\n{{ resource_idd }}", html="x")
    with pytest.raises(RenderError, match=r"body\.txt\.j2, line 2: 'resource_idd' is undefined"):
        Renderer(tmp_path).render_email(real_outgoing(), "typo")


def test_the_sandbox_refuses_to_reach_python_internals(tmp_path: Path) -> None:
    write_set(
        tmp_path,
        "escape",
        subject="{{ notification.__class__.__mro__ }}",
        text="x",
        html="x",
    )
    with pytest.raises(RenderError, match="__class__"):
        Renderer(tmp_path).render_email(real_outgoing(), "escape")


def test_check_accepts_the_bundled_default_set() -> None:
    assert Renderer().check("default") == []


def test_check_reports_a_broken_template_with_its_file_and_line(tmp_path: Path) -> None:
    write_set(
        tmp_path,
        "broken",
        subject="{{ rule }}",
        text="line one\nline two\n{{ rule | }}\nline four\n",
        html="<p>\n{{ rule }\n</p>",
    )
    problems = Renderer(tmp_path).check("broken")
    assert len(problems) == 2, problems
    text_problem, html_problem = problems
    assert text_problem.startswith(f"{tmp_path / 'broken' / 'body.txt.j2'}, line 3: ")
    assert html_problem.startswith(f"{tmp_path / 'broken' / 'body.html.j2'}, line 2: ")


def test_check_reports_undefined_variables_found_by_a_trial_render(tmp_path: Path) -> None:
    write_set(tmp_path, "typo", subject="{{ rul }}", text="x", html="x")
    assert Renderer(tmp_path).check("typo") == [
        f"{tmp_path / 'typo' / 'subject.txt.j2'}, line 1: 'rul' is undefined"
    ]


def test_check_reports_a_missing_set_and_missing_parts(tmp_path: Path) -> None:
    (problem,) = Renderer(tmp_path).check("nowhere")
    assert "template set 'nowhere' not found" in problem and str(tmp_path) in problem
    write_set(tmp_path, "partial", subject="{{ rule }}")
    assert Renderer(tmp_path).check("partial") == [
        "template set 'partial' has no body.txt.j2",
        "template set 'partial' has no body.html.j2",
    ]
    assert Renderer().check("../templates") != []


def test_rendering_a_missing_set_raises_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="not found"):
        renderer.render_email(real_outgoing(), "nowhere")
