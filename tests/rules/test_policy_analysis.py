"""The policy analyser against real policy documents: AWS managed policies as AWS publishes them, the
shapes the rule fixtures carry, and the grammar's corners (NotAction, `?`, case, conditional Deny).

AWS managed policy documents are copied from the AWS Managed Policy Reference
(https://docs.aws.amazon.com/aws-managed-policy/latest/reference/<name>.html) at the version named.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.errors import NotifierError
from notifier.rules.policy_analysis import NamedPolicy, PolicyDocumentError, PolicySet, parse_statements, summarise
from notifier.rules.policy_patterns import Constraint, find_action, matches, overlaps, prefixes_agree


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": "*", **extra}


def deny(action: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": "*", **extra}


# AdministratorAccess v1.
ADMINISTRATOR_ACCESS = policy(allow("*"))

# PowerUserAccess v12.
POWER_USER_ACCESS = policy(
    {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"},
    allow(
        [
            "account:GetAccountInformation",
            "account:GetGovCloudAccountInformation",
            "account:GetPrimaryEmail",
            "account:ListRegions",
            "iam:CreateServiceLinkedRole",
            "iam:DeleteServiceLinkedRole",
            "iam:ListRoles",
            "organizations:DescribeEffectivePolicy",
            "organizations:DescribeOrganization",
        ]
    ),
)

# IAMFullAccess v2.
IAM_FULL_ACCESS = policy(
    allow(
        [
            "iam:*",
            "organizations:DescribeAccount",
            "organizations:DescribeOrganization",
            "organizations:DescribeOrganizationalUnit",
            "organizations:DescribePolicy",
            "organizations:ListChildren",
            "organizations:ListParents",
            "organizations:ListPoliciesForTarget",
            "organizations:ListRoots",
            "organizations:ListPolicies",
            "organizations:ListTargetsForPolicy",
        ]
    )
)

# IAMReadOnlyAccess v4.
IAM_READ_ONLY_ACCESS = policy(
    allow(
        [
            "iam:GenerateCredentialReport",
            "iam:GenerateServiceLastAccessedDetails",
            "iam:Get*",
            "iam:List*",
            "iam:SimulateCustomPolicy",
            "iam:SimulatePrincipalPolicy",
        ]
    )
)

# AmazonEC2FullAccess (v5 shape: four service wildcards and a conditional CreateServiceLinkedRole).
AMAZON_EC2_FULL_ACCESS = policy(
    allow("ec2:*"),
    allow("elasticloadbalancing:*"),
    allow("cloudwatch:*"),
    allow("autoscaling:*"),
    allow(
        "iam:CreateServiceLinkedRole",
        Condition={
            "StringEquals": {
                "iam:AWSServiceName": [
                    "autoscaling.amazonaws.com",
                    "ec2scheduled.amazonaws.com",
                    "elasticloadbalancing.amazonaws.com",
                    "spot.amazonaws.com",
                    "spotfleet.amazonaws.com",
                    "transitgateway.amazonaws.com",
                ]
            }
        },
    ),
)

# The fixture documents, decoded (events 22-25 of ../shared/fixtures/config-rule).
STATEMENT_AS_OBJECT = {
    "Version": "2012-10-17",
    "Statement": {"Sid": "Bootstrap", "Effect": "Allow", "Action": "IAM:Create*", "Resource": "*"},
}
EVERYTHING_BUT_S3 = policy({"Effect": "Allow", "NotAction": ["s3:*"], "Resource": "*"})
IAM_ADMIN_NO_NEW_PRINCIPALS = policy(
    {"Sid": "IamAdmin", **allow("iam:*")},
    {"Sid": "NoNewPrincipals", **deny(["iam:CreateUser", "iam:CreateRole"])},
)
IAM_ADMIN_MFA_GUARD = policy(
    {"Sid": "IamAdmin", **allow("iam:*")},
    {
        "Sid": "NoNewPrincipals",
        **deny(["iam:CreateUser", "iam:CreateRole"]),
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    },
)

CASES = [
    # (document, query, allowed, conditional)
    (ADMINISTRATOR_ACCESS, "iam:*", True, False),
    (ADMINISTRATOR_ACCESS, "iam:CreateUser", True, False),
    (ADMINISTRATOR_ACCESS, "ec2:AuthorizeSecurityGroupIngress", True, False),
    (POWER_USER_ACCESS, "iam:*", True, False),  # the iam:CreateServiceLinkedRole/ListRoles statement
    (POWER_USER_ACCESS, "iam:CreateUser", False, False),
    (POWER_USER_ACCESS, "iam:CreateRole", False, False),
    (POWER_USER_ACCESS, "iam:ListRoles", True, False),
    (POWER_USER_ACCESS, "ec2:AuthorizeSecurityGroupIngress", True, False),  # through NotAction
    (POWER_USER_ACCESS, "organizations:CreateAccount", False, False),
    (POWER_USER_ACCESS, "account:GetPrimaryEmail", True, False),
    (IAM_FULL_ACCESS, "iam:CreateUser", True, False),
    (IAM_FULL_ACCESS, "iam:*", True, False),
    (IAM_FULL_ACCESS, "organizations:DescribeAccount", True, False),
    (IAM_FULL_ACCESS, "ec2:CreateSecurityGroup", False, False),
    (IAM_READ_ONLY_ACCESS, "iam:*", True, False),
    (IAM_READ_ONLY_ACCESS, "iam:GetUser", True, False),
    (IAM_READ_ONLY_ACCESS, "iam:CreateUser", False, False),
    (IAM_READ_ONLY_ACCESS, "iam:Create*", False, False),  # a pattern query no statement reaches
    (IAM_READ_ONLY_ACCESS, "iam:Generate*", True, False),
    (AMAZON_EC2_FULL_ACCESS, "ec2:RevokeSecurityGroupEgress", True, False),
    (AMAZON_EC2_FULL_ACCESS, "iam:*", True, True),  # only the conditional CreateServiceLinkedRole
    (AMAZON_EC2_FULL_ACCESS, "iam:CreateServiceLinkedRole", True, True),
    (AMAZON_EC2_FULL_ACCESS, "iam:CreateRole", False, False),
    (STATEMENT_AS_OBJECT, "iam:CreateUser", True, False),
    (STATEMENT_AS_OBJECT, "iam:CreateRole", True, False),
    (STATEMENT_AS_OBJECT, "iam:DeleteUser", False, False),
    (EVERYTHING_BUT_S3, "iam:CreateUser", True, False),
    (EVERYTHING_BUT_S3, "s3:GetObject", False, False),
    (EVERYTHING_BUT_S3, "S3:PutObject", False, False),
    (IAM_ADMIN_NO_NEW_PRINCIPALS, "iam:CreateUser", False, False),
    (IAM_ADMIN_NO_NEW_PRINCIPALS, "iam:CreateRole", False, False),
    (IAM_ADMIN_NO_NEW_PRINCIPALS, "iam:*", True, False),  # every other iam action survives the Deny
    (IAM_ADMIN_NO_NEW_PRINCIPALS, "iam:Create*", True, False),  # iam:CreateGroup, iam:CreatePolicy...
    (IAM_ADMIN_MFA_GUARD, "iam:CreateUser", True, False),  # a conditional Deny does not remove it
]


@pytest.mark.parametrize(("document", "query", "allowed", "conditional"), CASES)
def test_real_policy_documents(document: dict[str, Any], query: str, allowed: bool, conditional: bool) -> None:
    answer = PolicySet.from_documents([NamedPolicy("P", document)]).allowance(query)
    assert (answer.allowed, answer.conditional) == (allowed, conditional), answer.reason()


def test_action_names_compare_case_insensitively_in_queries_and_statements() -> None:
    policies = PolicySet.from_documents([("Mixed", policy(allow("IAM:createuser")))])
    assert policies.allowance("iam:CreateUser").allowed
    assert policies.allowance("IAM:CREATEUSER").allowed
    assert policies.allowance("iam:createUSER").allowed


def test_question_mark_matches_exactly_one_character() -> None:
    policies = PolicySet.from_documents([("Q", policy(allow(["iam:?reateUser", "iam:Get?"])))])
    assert policies.allowance("iam:CreateUser").allowed
    assert not policies.allowance("iam:CreateRole").allowed
    assert policies.allowance("iam:GetX").allowed
    assert not policies.allowance("iam:Get").allowed  # `?` is one character, never none
    assert not policies.allowance("iam:GetUser").allowed


def test_an_unconditional_deny_in_one_policy_removes_the_allow_of_another() -> None:
    policies = PolicySet.from_documents(
        [("IAMFullAccess", IAM_FULL_ACCESS), ("Guardrail", policy({"Sid": "NoUsers", **deny("iam:CreateUser")}))]
    )
    answer = policies.allowance("iam:CreateUser")
    assert not answer.allowed
    assert [str(s.where) for s in answer.denied_by] == ["Guardrail#NoUsers"]
    assert answer.reason() == "iam:CreateUser not allowed (denied by Guardrail#NoUsers)"
    assert policies.allowance("iam:CreateRole").allowed


def test_a_conditional_deny_is_reported_but_does_not_remove_the_allowance() -> None:
    answer = PolicySet.from_documents([("Mfa", IAM_ADMIN_MFA_GUARD)]).allowance("iam:CreateRole")
    assert answer.allowed and not answer.conditional
    assert [str(s.where) for s in answer.limited_denials] == ["Mfa#NoNewPrincipals"]
    assert answer.reason() == (
        "iam:CreateRole allowed by Mfa#IamAdmin (iam:*); Deny Mfa#NoNewPrincipals applies only in some requests"
    )


def test_a_deny_scoped_to_some_resources_does_not_remove_the_allowance() -> None:
    scoped = deny("iam:CreateRole", Resource="arn:aws:iam::*:role/admin-*")
    not_resource = {"Effect": "Deny", "Action": "iam:CreateRole", "NotResource": "arn:aws:iam::*:role/app-*"}
    for statement in (scoped, not_resource):
        answer = PolicySet.from_documents([("P", policy(allow("iam:*"), statement))]).allowance("iam:CreateRole")
        assert answer.allowed and len(answer.limited_denials) == 1


def test_a_conditional_allow_is_allowed_and_says_so() -> None:
    document = policy(
        allow("iam:CreateUser", Sid="WithMfa", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    )
    answer = PolicySet.from_documents([("Mfa", document)]).allowance("iam:CreateUser")
    assert answer.allowed and answer.conditional
    assert answer.reason() == "iam:CreateUser allowed under a condition by Mfa#WithMfa"


def test_an_unconditional_allow_beside_a_conditional_one_makes_it_unconditional() -> None:
    document = policy(allow("iam:*", Condition={"Bool": {"aws:SecureTransport": "true"}}), allow("iam:Get*"))
    answer = PolicySet.from_documents([("P", document)]).allowance("iam:*")
    assert answer.allowed and not answer.conditional and len(answer.granted_by) == 2


def test_an_empty_condition_block_is_no_condition() -> None:
    answer = PolicySet.from_documents([("P", policy(allow("iam:CreateUser", Condition={})))]).allowance(
        "iam:CreateUser"
    )
    assert answer.allowed and not answer.conditional


def test_deny_with_not_action_removes_everything_it_does_not_list() -> None:
    read_only_guard = policy(allow("*"), {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"})
    policies = PolicySet.from_documents([("Guard", read_only_guard)])
    assert not policies.allowance("iam:CreateUser").allowed
    assert not policies.allowance("ec2:CreateSecurityGroup").allowed
    assert policies.allowance("iam:GetUser").allowed
    assert policies.allowance("iam:*").allowed  # the Get*/List* actions are left


def test_a_pattern_query_is_allowed_only_while_some_action_survives_the_denies() -> None:
    create_only = policy(allow("iam:Create*"))
    assert PolicySet.from_documents([("P", create_only)]).allowance("iam:*").allowed
    wiped = policy(allow("iam:Create*"), deny("iam:C*"))
    assert not PolicySet.from_documents([("P", wiped)]).allowance("iam:*").allowed
    everything_denied = policy(allow("*"), deny("iam:*"))
    assert not PolicySet.from_documents([("P", everything_denied)]).allowance("iam:*").allowed
    assert PolicySet.from_documents([("P", everything_denied)]).allowance("ec2:*").allowed


def test_the_answer_names_the_patterns_that_grant_it() -> None:
    answer = PolicySet.from_documents([("PowerUserAccess", POWER_USER_ACCESS)]).allowance("iam:*")
    assert answer.reason() == (
        "iam:* allowed by PowerUserAccess#2 (iam:CreateServiceLinkedRole, iam:DeleteServiceLinkedRole, iam:ListRoles)"
    )
    answer = PolicySet.from_documents([("EverythingButS3", EVERYTHING_BUT_S3)]).allowance("iam:CreateUser")
    assert answer.reason() == "iam:CreateUser allowed by EverythingButS3#1 (all but s3:*)"


def test_allowed_keeps_only_the_allowed_queries_in_order() -> None:
    policies = PolicySet.from_documents([("P", IAM_ADMIN_NO_NEW_PRINCIPALS)])
    assert [
        a.query for a in policies.allowed(["iam:CreateUser", "iam:DeleteUser", "iam:CreateRole", "iam:PassRole"])
    ] == [
        "iam:DeleteUser",
        "iam:PassRole",
    ]


def test_summarise_says_each_reason_once_and_counts_what_it_does_not_name() -> None:
    policies = PolicySet.from_documents([("PowerUserAccess", POWER_USER_ACCESS), ("Ops", IAM_ADMIN_NO_NEW_PRINCIPALS)])
    answers = policies.allowed(["ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "iam:PassRole"])
    assert summarise(answers) == (
        "ec2:CreateSecurityGroup, ec2:DeleteSecurityGroup allowed by PowerUserAccess#1 (all but iam:*, organizations:*,"
        " account:*); iam:PassRole allowed by Ops#IamAdmin (iam:*)"
    )
    many = policies.allowed([f"ec2:Action{n}" for n in range(5)])
    assert summarise(many, names_shown=2).startswith("ec2:Action0, ec2:Action1 and 3 more allowed by PowerUserAccess#1")


# --- empty and malformed documents ------------------------------------------------------------------


@pytest.mark.parametrize("document", [policy(), {"Version": "2012-10-17", "Statement": []}])
def test_a_document_without_statements_allows_nothing(document: dict[str, Any]) -> None:
    assert not PolicySet.from_documents([("Empty", document)]).allowance("*").allowed


def test_no_policies_allow_nothing() -> None:
    assert not PolicySet.from_documents([]).allowance("iam:*").allowed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "policy 'Broken' Statement: is missing"),
        ({"PolicyVersion": {"Document": {}}}, "policy 'Broken' Statement: is missing"),
        ("%7B%22Version%22%3A%222012-10-17%22%7D", "policy 'Broken' (document): is a str, not a JSON object"),
        ({"Statement": "Allow everything"}, "policy 'Broken' Statement: is a str, not an object or a list"),
        ({"Statement": ["Allow"]}, "policy 'Broken' Statement[0]: is a str, not an object"),
        ({"Statement": [allow("*"), {"Effect": "allow", "Action": "*"}]}, "Statement[1].Effect: is 'allow'"),
        ({"Statement": {"Effect": "Allow", "Resource": "*"}}, "Statement: needs exactly one of Action and NotAction"),
        ({"Statement": [{"Effect": "Deny", "Action": "*", "NotAction": "s3:*"}]}, "Statement[0]: needs exactly one"),
        (
            {"Statement": [{"Effect": "Allow", "Action": ["iam:*", 7]}]},
            "Statement[0].Action: must be a string or a list",
        ),
        ({"Statement": [{"Effect": "Allow", "NotAction": {"s3": "*"}}]}, "Statement[0].NotAction: must be a string"),
        ({"Statement": [allow("*", Condition=["Bool"])]}, "Statement[0].Condition: is not an object"),
    ],
)
def test_a_malformed_document_is_a_clear_error_not_an_answer(document: Any, message: str) -> None:
    with pytest.raises(PolicyDocumentError) as raised:
        parse_statements("Broken", document)
    assert message in str(raised.value)
    assert isinstance(raised.value, NotifierError) and raised.value.policy == "Broken"


# --- the pattern engine -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "iam:CreateUser", True),
        ("iam:*", "iam:CreateUser", True),
        ("iam:*", "iamx:CreateUser", False),
        ("iam:Create*", "iam:Create", True),  # `*` may match nothing
        ("iam:Create*", "iam:DeleteUser", False),
        ("*:Get*", "s3:GetObject", True),
        ("ec2:*SecurityGroup*", "ec2:AuthorizeSecurityGroupIngress", True),
        ("iam:?reate*", "iam:CreateRole", True),
        ("iam:??", "iam:a", False),
        ("IAM:CREATEUSER", "iam:createuser", True),
    ],
)
def test_matches(pattern: str, action: str, expected: bool) -> None:
    assert matches(pattern, action) is expected


def test_the_example_action_is_the_shortest_valid_name() -> None:
    assert find_action([Constraint.any_of(["iam:*"])]) == "iam:a"
    assert find_action([Constraint.any_of(["*"]), Constraint.none_of(["s3:*"])]) == "a:a"
    assert find_action([Constraint.any_of(["iam:*"]), Constraint.none_of(["iam:*"])]) is None
    assert find_action([Constraint.any_of([])]) is None  # `"Action": []` matches nothing


def test_long_action_lists_are_still_quick() -> None:
    # A guardrail listing 400 actions by name, and one by a wildcard, against the broadest query; and a
    # ReadOnlyAccess-sized Allow (1,600 patterns across 400 services) beside a 400-pattern Deny.
    denied = [f"iam:Action{n:03d}Name" for n in range(400)] + ["iam:Create*"]
    services = [f"service{n}" for n in range(400)]
    read_only = [f"{s}:{verb}*" for s in services for verb in ("Get", "List", "Describe", "BatchGet")]
    documents = [
        ("Big", policy(allow("iam:*"), deny(denied))),
        ("ReadOnly", policy(allow([*read_only, "iam:Get*", "iam:List*"]))),
        ("Guard", policy(deny([f"{s}:Delete*" for s in services]))),
    ]
    started = time.perf_counter()
    policies = PolicySet.from_documents(documents)
    answers = [policies.allowance("iam:*"), policies.allowance("iam:CreateUser"), policies.allowance("ec2:*")]
    assert [a.allowed for a in answers] == [True, False, False]
    assert time.perf_counter() - started < 1.0


SHORT_NAMES = [
    "".join(chars)
    for length in range(3, 6)
    for chars in itertools.product("abc:", repeat=length)
    if re.fullmatch(r"[a-z0-9-]+:[a-z0-9]+", "".join(chars))
]
PATTERN_TEXT = st.text(alphabet="ab:*?", min_size=0, max_size=6)
ACTION_TEXT = st.text(alphabet="ab:", min_size=0, max_size=6)


def as_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())


@settings(max_examples=300, deadline=None)
@given(PATTERN_TEXT, ACTION_TEXT)
def test_matches_agrees_with_a_regex_translation(pattern: str, action: str) -> None:
    assert matches(pattern, action) == bool(re.fullmatch(as_regex(pattern), action, re.DOTALL))


@settings(max_examples=300, deadline=None)
@given(PATTERN_TEXT, PATTERN_TEXT)
def test_patterns_whose_literal_starts_disagree_never_overlap(first: str, second: str) -> None:
    if overlaps(Constraint.any_of([first]), Constraint.any_of([second])):
        assert prefixes_agree(first, second)


@settings(max_examples=200, deadline=None)
@given(st.lists(PATTERN_TEXT, max_size=3), st.lists(PATTERN_TEXT, max_size=3))
def test_the_example_action_satisfies_every_constraint(inside: list[str], outside: list[str]) -> None:
    constraints = [Constraint.any_of(inside), Constraint.none_of(outside)]
    example = find_action(constraints)
    if example is None:  # then no short name does either ("c" stands for any other character)
        inside_re = [re.compile(as_regex(p), re.DOTALL) for p in inside]
        outside_re = [re.compile(as_regex(p), re.DOTALL) for p in outside]
        for name in SHORT_NAMES:
            wanted = any(r.fullmatch(name) for r in inside_re) and not any(r.fullmatch(name) for r in outside_re)
            assert not wanted, name
        return
    assert re.fullmatch(r"[a-z0-9-]+:[a-z0-9]+", example)
    assert any(matches(p, example) for p in inside)
    assert not any(matches(p, example) for p in outside)
