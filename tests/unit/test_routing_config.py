"""Loading the routing config: every problem at once, each with its file, line and path; never a secret."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from notifier.errors import ConfigError, ConfigProblem
from notifier.routing.config import RoutingConfig, check_config, find_problems, load_config, parse_config
from notifier.routing.schema_messages import load_schema
from notifier.routing.semantic_checks import AVAILABLE_TYPES, NOT_YET_TYPES
from tests.unit.test_route_tree import change

CONFIGS = Path(__file__).parent.parent / "configs"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"

EMAIL = "{type: email, via: ses, from: a@example.com, to: [b@example.com]}"


def problems_of(text: str, base_dir: Path = CONFIGS) -> list[str]:
    return [str(p) for p in find_problems(textwrap.dedent(text), "t.yml", base_dir)]


def config_with(destination: str = EMAIL, route: str = "{name: r, destinations: [d]}") -> str:
    return f"destinations:\n  d: {destination}\nroutes:\n  - {route}\n"


# --- valid configs -----------------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_07_schema() -> None:
    jsonschema.Draft7Validator.check_schema(load_schema())


@pytest.mark.parametrize("path", [CONFIGS / "routes.yml", EXAMPLES / "routes.yml"], ids=["tests", "examples"])
def test_the_realistic_configs_load_without_problems_or_warnings(path: Path) -> None:
    config = load_config(path)
    assert isinstance(config, RoutingConfig)
    assert config.source == str(path) and config.templates_dir is None and config.warnings == ()
    assert config.tree.route_names == (
        "iam-production-violations",
        "iam-user-policies",
        "iam-break-glass-users",
        "iam-resolved",
        "iam-audit-everything-else",
    )
    security = config.destinations["security-email"]
    assert (security.name, security.type, security.template_set) == ("security-email", "email", "default")
    assert security.options["to"] == ["platform-security@example.com"] and "type" not in security.options
    assert config.destinations["audit-log"].type == "file"
    with pytest.raises(TypeError):
        config.destinations["x"] = security  # type: ignore[index]


def test_the_realistic_config_routes_the_iam_rule() -> None:
    tree = load_config(CONFIGS / "routes.yml").tree

    def routes(**fields: str) -> list[str]:
        return [hit.route for hit in tree.match(*change(**fields))]

    assert routes(old="NONE", new="NON_COMPLIANT", account="012345678901") == [
        "iam-production-violations",
        "iam-user-policies",
    ]
    assert routes(old="COMPLIANT", new="NON_COMPLIANT", account="123456789012") == ["iam-user-policies"]
    assert routes(old="NON_COMPLIANT", new="COMPLIANT") == ["iam-resolved"]
    assert routes(old="COMPLIANT", new="NON_COMPLIANT", resource_id="AIDABREAKGLASS1") == ["iam-break-glass-users"]
    assert routes(old="NON_COMPLIANT", new="NON_COMPLIANT") == ["iam-audit-everything-else"]
    assert routes(rule="s3-bucket-logging") == []


def test_json_is_read_too_with_its_line_numbers() -> None:
    data = yaml.safe_load((CONFIGS / "routes.yml").read_text())
    config = parse_config(json.dumps(data, indent=2), "routes.json", CONFIGS)
    assert config.tree.route_names == load_config(CONFIGS / "routes.yml").tree.route_names
    data["routes"][1]["match"]["transition"] = ["violation"]
    text = json.dumps(data, indent=2)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"violation"' in t)
    [problem] = find_problems(text, "routes.json", CONFIGS)
    assert problem.location == f"routes.json:{line}: routes[1].match.transition[0]"
    assert "violation" in problem.message and "first_violation" in problem.message


def test_secret_references_of_every_form_are_accepted() -> None:
    for reference in (
        "env:SMTP_PASSWORD",
        "ssm:/prod/notifier/smtp",
        "secretsmanager:prod/smtp#password",
        "secretsmanager:arn:aws:secretsmanager:eu-west-1:123456789012:secret:smtp-AbCdEf",
    ):
        smtp = f"{{type: email, via: smtp, host: h, from: a@x.com, to: [b@x.com], password: '{reference}'}}"
        assert problems_of(config_with(smtp)) == [], reference


def test_yaml_merge_keys_work() -> None:
    text = textwrap.dedent("""\
        destinations:
          d1: &base {type: email, via: ses, from: a@example.com, to: [b@example.com]}
          d2: {<<: *base, to: [c@example.com]}
        routes:
          - {name: r, destinations: [d1, d2]}
        """)
    config = parse_config(text, "t.yml", CONFIGS)
    assert config.destinations["d2"].options["to"] == ["c@example.com"]
    assert config.destinations["d2"].options["from"] == "a@example.com"


# --- every problem at once ---------------------------------------------------------------------------

TEN_MISTAKES = [  # (line, path, words the message must contain)
    (11, "destinations.security-email.password", "secret reference"),
    (15, "destinations.audit-log.tempalte", "did you mean 'template'"),
    (16, "destinations.oncall-email", "required key 'to'"),
    (20, "destinations.oncall-email.template", "weekly-digest"),
    (21, "destinations.tickets", "required key 'flavor'"),
    (30, "routes[0].match.rule", "never closed"),
    (31, "routes[0].match.account", "lose leading zeros"),
    (35, "routes[1].match.to", "cannot be NONE"),
    (36, "routes[1].destinations[0]", "'security-emial', which is not defined"),
    (37, "routes[2].name", "already used by routes[0] (line 28)"),
]


def test_ten_mistakes_are_all_reported_at_once_with_their_lines() -> None:
    path = CONFIGS / "ten-mistakes.yml"
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = raised.value.problems
    assert [p.location for p in problems] == [f"{path}:{line}: {where}" for line, where, _ in TEN_MISTAKES]
    for problem, (_, _, words) in zip(problems, TEN_MISTAKES, strict=True):
        assert words in problem.message, problem
    # The commented line of each mistake is the line reported.
    lines = path.read_text().splitlines()
    for number, (line, _, _) in enumerate(TEN_MISTAKES, 1):
        assert f"# {number}:" in lines[line - 1]


def test_a_literal_secret_is_never_repeated() -> None:
    text = (CONFIGS / "ten-mistakes.yml").read_text()
    everything = str(ConfigError(find_problems(text, "ten-mistakes.yml", CONFIGS)))
    assert "hunter2" not in everything


@pytest.mark.parametrize(
    ("destination", "key"),
    [
        (
            "{type: email, via: smtp, host: h, from: a@example.com, to: [b@example.com], password: 's3cr3t-value'}",
            "password",
        ),
        (
            "{type: email, via: smtp, host: h, from: a@example.com, to: [b@example.com], password: 987654321}",
            "password",
        ),
        ("{type: jira, token: 's3cr3t-value'}", "token"),
        ("{type: servicenow, client_secret: 's3cr3t-value'}", "client_secret"),
        ("{type: webhook, secrets: [env:OLD, 'whsec_s3cr3t-value']}", "secrets[1]"),
        ("{type: slack, webhook_url: 'https://hooks.slack.com/services/s3cr3t-value'}", "webhook_url"),
    ],
)
def test_literal_secrets_are_refused_without_being_quoted(destination: str, key: str) -> None:
    found = problems_of(config_with(destination))
    [secret_problem] = [p for p in found if f"destinations.d.{key}:" in p]
    assert "s3cr3t" not in " ".join(found) and "987654321" not in " ".join(found)
    assert "secret" in secret_problem


def test_a_syntax_error_gives_one_problem_without_quoting_the_line() -> None:
    found = problems_of("destinations:\n  d:\n    password: hunter2: more\n")
    assert len(found) == 1 and found[0].startswith("t.yml:3: not valid YAML")
    assert "hunter2" not in found[0]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("# only a comment\n\n", "empty"),
        ("just some words", "must be a mapping with `destinations` and `routes`, not a string"),
        ("- a\n- b\n", "not a list"),
        ("a: [1, 2\n", "not valid YAML"),
        ("---\na: 1\n---\nb: 2\n", "not valid YAML"),
        ("a: \x00\n", "not a text file"),
    ],
)
def test_not_a_config_at_all_is_one_clear_problem(text: str, words: str) -> None:
    [problem] = problems_of(text)
    assert words in problem


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "missing.yml")
    [problem] = raised.value.problems
    assert problem.location == str(tmp_path / "missing.yml") and "cannot be read" in problem.message


def test_account_numbers_say_to_quote_them_and_quote_what_was_written() -> None:
    found = problems_of(config_with(route="{name: r, destinations: [d], match: {account: [012345670123, '1']}}"))
    assert found == [
        "t.yml:4: routes[0].match.account[0]: YAML read 012345670123 as a number, which would lose leading zeros: "
        'quote it, as in "012345670123"'
    ]


@pytest.mark.parametrize(
    ("destination", "location", "words"),
    [
        ("{type: email, via: ses, from: a@example.com, to: [b@example.com], path: /x}", "d.path", "has no key 'path'"),
        ("{type: email, via: ses, host: h, from: a@example.com, to: [b@example.com]}", "d.host", "is an SMTP setting"),
        ("{type: email, via: smtp, from: a@example.com, to: [b@example.com]}", "d", "required key 'host'"),
        (
            "{type: email, via: smtp, host: h, region: eu-west-1, from: a@example.com, to: [b@example.com]}",
            "d.region",
            "is an SES setting",
        ),
        ("{type: email, via: ses, from: a@example.com, to: []}", "d.to", "must not be empty"),
        ("{type: email, via: ses, from: not-an-address, to: [b@example.com]}", "d.from", "not an email address"),
        ("{type: email, via: pigeon, from: a@example.com, to: [b@example.com]}", "d.via", "ses, smtp"),
        ("{type: file}", "d", "required key 'path'"),
        ("{type: file, path: /x, timeout: 0}", "d.timeout", "greater than 0"),
        ("{type: file, path: /x, dry_run: perhaps}", "d.dry_run", "true or false"),
        ("{type: file, path: /x, template: ../etc}", "d.template", "template set name"),
        ("{type: pagerduty}", "d.type", "email, file, jira"),
        ("{via: ses}", "d", "required key 'type'"),
    ],
)
def test_destination_mistakes(destination: str, location: str, words: str) -> None:
    [problem] = problems_of(config_with(destination))
    assert problem.startswith(f"t.yml:2: destinations.{location}: ") and words in problem, problem


@pytest.mark.parametrize("kind", load_schema()["definitions"]["destination"]["properties"]["type"]["enum"])
def test_destination_types_not_built_yet_are_reported_and_no_others(kind: str) -> None:
    not_yet = [p for p in problems_of(config_with(f"{{type: {kind}}}")) if "not available in this version" in p]
    if kind in NOT_YET_TYPES:
        assert not_yet == [
            f"t.yml:2: destinations.d.type: destination type '{kind}' is not available in this version yet "
            f"(available: {', '.join(AVAILABLE_TYPES)})"
        ]
    else:
        assert kind in AVAILABLE_TYPES and not_yet == []


@pytest.mark.parametrize(
    ("key", "value"), [("group_by", "[rule, account]"), ("group_window", "5m"), ("baseline", "false"),
                       ("baseline_tickets", "none")]
)  # fmt: skip
def test_storm_control_route_keys_are_accepted(key: str, value: str) -> None:
    assert problems_of(config_with(route=f"{{name: r, destinations: [d], {key}: {value}}}")) == []


@pytest.mark.parametrize(
    ("key", "value", "sentence"),
    [
        ("group_by", "[owner]", "cannot group by 'owner': use any of rule, account, region, resource_type, transition"),
        ("group_window", "soon", "'soon' is not a duration (use seconds, or e.g. 30m, 12h, 7d)"),
        ("group_window", "0", "must be longer than zero"),
        ("baseline", "'yes'", "must be true or false"),
    ],
)
def test_bad_storm_control_route_keys_are_reported(key: str, value: str, sentence: str) -> None:
    [problem] = problems_of(config_with(route=f"{{name: r, destinations: [d], {key}: {value}}}"))
    assert problem == f"t.yml:4: routes[0].{key}: {sentence}"


def test_silences_are_checked_and_expired_ones_are_warnings() -> None:
    live = "  - {match: {rule: x}, until: '2030-01-01', reason: migration, created_by: alice}\n"
    expired = "  - {match: {rule: x}, until: '2020-01-01T00:00:00Z', reason: old, created_by: bob}\n"
    unsigned = "  - {match: {rule: x}, until: '2030-01-01', reason: no owner}\n"
    bad_until = "  - {match: {rule: '[x'}, until: 'next tuesday', reason: r, created_by: c}\n"
    assert problems_of(config_with() + "silences:\n" + live) == []
    check = check_config(config_with() + "silences:\n" + live + expired, "t.yml", CONFIGS)
    assert check.ok and [str(w) for w in check.warnings] == [
        "t.yml:7: silences[1]: expired on 2020-01-01T00:00:00+00:00 (old)"
    ]
    problems = problems_of(config_with() + "silences:\n" + unsigned + bad_until)
    assert len(problems) == 3, problems
    assert "created_by" in problems[0] and "silences[1].match" in problems[1] and "next tuesday" in problems[2]


def test_unused_destinations_are_warnings_not_problems() -> None:
    text = config_with().replace("routes:", "  spare: {type: file, path: /x}\nroutes:")
    check = check_config(text, "t.yml", CONFIGS)
    assert check.problems == () and check.ok
    unused = ConfigProblem("t.yml:3: destinations.spare", "destination 'spare' is defined but no route uses it")
    assert check.warnings == (unused,)
    assert parse_config(text, "t.yml", CONFIGS).warnings == check.warnings


def test_route_tree_mistakes_are_each_located() -> None:
    text = """\
        destinations:
          d: {type: file, path: /x}
        routes:
          - name: parent
            destinations: [d]
            routes:
              - name: inherits                     # fine: takes d from its parent
              - {name: parent, destinations: [d]}  # duplicate, one level down
          - name: nowhere                          # no destinations, none inherited, no children
          - name: impossible
            match: {from: COMPLIANT, to: COMPLIANT}
            destinations: [d]
          - name: scope                            # fine: a pure scope whose children all deliver
            routes:
              - {name: scoped, destinations: [d]}
          - {name: bad name, destinations: [d]}
        """
    assert problems_of(text) == [
        "t.yml:8: routes[0].routes[1].name: the route name 'parent' is already used by routes[0] (line 4); "
        "route names must be unique across the whole tree",
        "t.yml:9: routes[1]: has no destinations, inherits none from a parent route and has no child routes: "
        "name its destinations",
        "t.yml:11: routes[2].match: can never match: no transition has these from/to states and transition kinds "
        "(without `transition`, a route gets every kind but `unchanged`)",
        "t.yml:16: routes[4].name: is \"bad name\", which is not a name of letters, digits, '_', '.', ':' and '-' "
        "(no spaces), starting with a letter or digit",
    ]


def test_duplicate_yaml_keys_are_not_silently_dropped() -> None:
    text = f"destinations:\n  d: {EMAIL}\n  d: {{type: file, path: /x}}\nroutes:\n  - {{name: r, destinations: [d]}}\n"
    assert problems_of(text) == [
        "t.yml:3: destinations.d: the key 'd' appears twice in this mapping (first on line 2); "
        "YAML would silently keep only the last one"
    ]


def test_unknown_keys_suggest_the_key_meant() -> None:
    found = problems_of(config_with(route="{name: r, destinations: [d], match: {rules: x}, contineu: true}"))
    assert any("routes[0].contineu: a route has no key 'contineu' (did you mean 'continue'?)" in p for p in found)
    assert any("routes[0].match.rules: a match block has no key 'rules' (did you mean 'rule'?)" in p for p in found)


def test_top_level_mistakes() -> None:
    assert problems_of("destinations: {}\nroutes: []\nextra: 1\n") == [
        "t.yml:1: destinations: must not be empty",
        "t.yml:2: routes: must not be empty",
        "t.yml:3: extra: the config has no key 'extra'; its keys are: "
        "destinations, dry_run_outbox, invalid_messages, routes, silences, templates_dir",
    ]
    assert problems_of("routes:\n  - {name: r}\n") == [
        "t.yml:1: is missing the required key 'destinations' (a mapping of named destinations)",
        "t.yml:2: routes[0]: has no destinations, inherits none from a parent route and has no child routes: "
        "name its destinations",
    ]


# --- templates ---------------------------------------------------------------------------------------


def write_set(root: Path, name: str, subject: str = "{{ rule }}") -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "subject.txt.j2").write_text(subject)
    (folder / "body.txt.j2").write_text("{{ resource_id }} {{ in_words }}")
    (folder / "body.html.j2").write_text("<p>{{ resource_id }}</p>")


def test_templates_dir_is_relative_to_the_config_and_its_sets_are_used(tmp_path: Path) -> None:
    write_set(tmp_path / "templates", "terse")
    config_file = tmp_path / "routes.yml"
    config_file.write_text("templates_dir: templates\n" + config_with("{type: file, path: /x, template: terse}"))
    config = load_config(config_file)
    assert config.templates_dir == tmp_path / "templates"
    assert config.destinations["d"].template_set == "terse"


def test_broken_templates_are_reported_at_the_destination_naming_them(tmp_path: Path) -> None:
    write_set(tmp_path / "templates", "broken", subject="{% if rule %}unclosed")
    text = "templates_dir: templates\n" + config_with("{type: file, path: /x, template: broken}")
    [problem] = find_problems(text, "t.yml", tmp_path)
    assert problem.location == "t.yml:3: destinations.d.template"
    assert "subject.txt.j2" in problem.message


def test_a_missing_templates_dir_is_a_problem(tmp_path: Path) -> None:
    [problem] = find_problems("templates_dir: nowhere\n" + config_with(), "t.yml", tmp_path)
    assert problem.location == "t.yml:1: templates_dir" and "is not a folder" in problem.message


def test_values_yaml_reads_as_dates_or_booleans_say_to_quote_them() -> None:
    found = problems_of(config_with(route="{name: r, destinations: [d], match: {rule: 2024-01-01, region: no}}"))
    assert found == [
        "t.yml:4: routes[0].match.region: YAML read no as true/false: quote it if it is text",
        "t.yml:4: routes[0].match.rule: YAML read 2024-01-01 as a date: quote it",
    ]
