"""Which actions a principal's identity policies allow, and why: the analyser the IAM rules share.

    policies = PolicySet.from_documents([NamedPolicy("AppBootstrap", document), ...])
    policies.allowance("iam:CreateUser")   # one action
    policies.allowance("iam:*")            # is ANY iam action allowed?

A query is an action name or a pattern; the answer (`Allowance`) says whether at least one action it
names is allowed, whether only under a condition, and which statements decide. The semantics, each
as the IAM User Guide's policy grammar and evaluation logic give them, or as chosen here and why:

- `Statement` is an object or a list; `Action`/`NotAction` a string or a list; names compare
  case-insensitively; `*` and `?` are wildcards in statements and in queries alike.
- `Allow` + `Action` allows the listed patterns; `Allow` + `NotAction` allows every action NOT listed
  (`Allow NotAction s3:*` allows `iam:CreateUser`).
- An explicit `Deny` removes an allowance only when it has no `Condition` and covers every resource
  (`Resource` `*`, no `NotResource`): a conditional Deny (e.g. only without MFA) or one scoped to some
  resources still leaves the action allowed in some requests, so it is reported, not subtracted.
  `Deny` + `NotAction` removes every action not listed.
- A conditional `Allow` still allows: the answer says `conditional=True` so that an annotation can say
  "allowed under a condition"; someone who meets the condition can act.
- `Resource`/`NotResource` of an `Allow` are ignored: `iam:CreateRole` on `role/app-*` still creates
  roles. Ignoring them can only turn "not allowed" into "allowed", the safe error for a compliance rule.
- Permission boundaries, SCPs and session policies are not part of the input; they can only narrow.

Documents are the dicts IAM and Config hold (already JSON-decoded). A document without `Statement`, or
one whose statements are not shaped per the grammar, raises `PolicyDocumentError` naming the policy
and the JSON path: a rule must not call a policy it cannot read compliant. An empty `Statement` list
is a valid policy that allows nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import NotifierError
from .policy_patterns import Constraint, normalise, overlaps, prefixes_agree

_EFFECTS = frozenset({"Allow", "Deny"})


class PolicyDocumentError(NotifierError, ValueError):
    """A policy document is not shaped as the IAM policy grammar says; names the policy and the path."""

    def __init__(self, policy: str, path: str, problem: str):
        self.policy = policy
        self.path = path
        super().__init__(f"policy {policy!r} {path}: {problem}")


class NamedPolicy(NamedTuple):
    """A policy document and the name it is reported under (an inline policy's name, a managed one's)."""

    name: str
    document: Mapping[str, Any]


class StatementRef(NamedTuple):
    """Where a statement is: its policy, its position (from 0) and its Sid, if it has one."""

    policy: str
    position: int  # from 0, in the document's Statement list
    sid: str | None

    def __str__(self) -> str:
        return f"{self.policy}#{self.sid or self.position + 1}"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement, reduced to what decides allowance (Principal and the Resource ARNs play no part)."""

    where: StatementRef
    allow: bool
    patterns: tuple[str, ...]  # as written in Action or NotAction
    not_action: bool
    conditional: bool
    every_resource: bool  # Resource includes "*" and there is no NotResource

    def matched(self) -> Constraint:
        """The actions this statement applies to."""
        return Constraint.none_of(self.patterns) if self.not_action else Constraint.any_of(self.patterns)

    def spared(self) -> Constraint:
        """The actions this statement does not apply to (what a Deny leaves alone)."""
        return Constraint.any_of(self.patterns) if self.not_action else Constraint.none_of(self.patterns)

    @property
    def removes(self) -> bool:
        """A Deny that takes the action away in every request, whatever the context."""
        return not self.allow and not self.conditional and self.every_resource


class Grant(NamedTuple):
    """An Allow statement that lets at least one queried action through, and the patterns that do."""

    statement: Statement
    # For Action: the listed patterns that admit the query, none when that is the query itself (saying
    # "ec2:X allowed by P#1 (ec2:X)" tells nothing, and it would keep ec2:X and ec2:Y from sharing one
    # reason in `summarise`). For NotAction: every listed pattern, the exceptions.
    patterns: tuple[str, ...]

    def __str__(self) -> str:
        if not self.patterns:
            return str(self.statement.where)
        listed = ", ".join(self.patterns)
        return f"{self.statement.where} ({'all but ' if self.statement.not_action else ''}{listed})"


@dataclass(frozen=True, slots=True)
class Allowance:
    """The answer to "is (any action matching) `query` allowed?", with the statements that decide it."""

    query: str
    allowed: bool
    conditional: bool  # allowed, but only by statements that carry a Condition
    granted_by: tuple[Grant, ...]
    denied_by: tuple[Statement, ...]  # unconditional Deny statements that match the query
    limited_denials: tuple[Statement, ...]  # Deny statements that match but carry a Condition or name resources

    def reason(self) -> str:
        """One sentence for an annotation or a log line: the query, then `because()`."""
        return f"{self.query} {self.because()}"

    def because(self) -> str:
        """The verdict and the statements behind it, without the query (answers with the same one group)."""
        if self.allowed:
            how = "allowed under a condition" if self.conditional else "allowed"
            sentence = f"{how} by {'; '.join(str(grant) for grant in self.granted_by)}"
            if self.limited_denials:
                sentence += f"; Deny {_refs(self.limited_denials)} applies only in some requests"
            return sentence
        if self.denied_by:
            return f"not allowed (denied by {_refs(self.denied_by)})"
        return "not allowed"


def summarise(answers: Iterable[Allowance], *, names_shown: int = 3) -> str:
    """Answers with the same reason said once: "iam:CreateUser, iam:CreateRole allowed by P#1 (iam:*)".

    At most `names_shown` queries are named per reason ("… and 8 more"), so that an annotation of 256
    characters keeps the reason, which says what to fix.
    """
    groups: dict[str, list[str]] = {}
    for answer in answers:
        groups.setdefault(answer.because(), []).append(answer.query)
    parts = []
    for because, queries in groups.items():
        named = ", ".join(queries[:names_shown])
        if len(queries) > names_shown:
            named += f" and {len(queries) - names_shown} more"
        parts.append(f"{named} {because}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """Every statement of a principal's policies, parsed once and asked many questions."""

    statements: tuple[Statement, ...]

    @classmethod
    def from_documents(cls, policies: Iterable[NamedPolicy | tuple[str, Mapping[str, Any]]]) -> PolicySet:
        return cls(tuple(statement for name, document in policies for statement in parse_statements(name, document)))

    def allowance(self, query: str) -> Allowance:
        asked = Constraint.any_of([query])
        denies = [s for s in self.statements if s.removes]
        survivors = [deny.spared() for deny in denies]
        granted = tuple(
            _grant(statement, query, survivors)
            for statement in self.statements
            if statement.allow and overlaps(asked, statement.matched(), *survivors)
        )
        return Allowance(
            query=query,
            allowed=bool(granted),
            conditional=bool(granted) and all(grant.statement.conditional for grant in granted),
            granted_by=granted,
            denied_by=tuple(deny for deny in denies if overlaps(asked, deny.matched())),
            limited_denials=tuple(
                s for s in self.statements if not s.allow and not s.removes and overlaps(asked, s.matched())
            ),
        )

    def allowances(self, queries: Iterable[str]) -> tuple[Allowance, ...]:
        return tuple(self.allowance(query) for query in queries)

    def allowed(self, queries: Iterable[str]) -> tuple[Allowance, ...]:
        """Only the queries that are allowed, in the order given."""
        return tuple(answer for answer in self.allowances(queries) if answer.allowed)


def _grant(statement: Statement, query: str, survivors: Sequence[Constraint]) -> Grant:
    if statement.not_action:
        return Grant(statement, statement.patterns)
    asked = Constraint.any_of([query])
    admitting = tuple(
        p
        for p in statement.patterns
        if prefixes_agree(p, query) and overlaps(asked, Constraint.any_of([p]), *survivors)
    )
    if [normalise(p) for p in admitting] == [normalise(query)]:
        return Grant(statement, ())
    return Grant(statement, admitting)


def parse_statements(policy: str, document: Any) -> tuple[Statement, ...]:
    """The statements of one policy document, checked against the grammar."""
    if not isinstance(document, Mapping):
        raise PolicyDocumentError(policy, "(document)", f"is a {type(document).__name__}, not a JSON object")
    if "Statement" not in document:
        raise PolicyDocumentError(policy, "Statement", "is missing")
    raw = document["Statement"]
    if isinstance(raw, Mapping):
        return (_statement(policy, 0, raw, "Statement"),)
    if not isinstance(raw, list):
        raise PolicyDocumentError(policy, "Statement", f"is a {type(raw).__name__}, not an object or a list")
    return tuple(_statement(policy, index, entry, f"Statement[{index}]") for index, entry in enumerate(raw))


def _statement(policy: str, index: int, raw: Any, path: str) -> Statement:
    if not isinstance(raw, Mapping):
        raise PolicyDocumentError(policy, path, f"is a {type(raw).__name__}, not an object")
    effect = raw.get("Effect")
    if effect not in _EFFECTS:
        raise PolicyDocumentError(policy, f"{path}.Effect", f"is {effect!r}, not 'Allow' or 'Deny'")
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyDocumentError(policy, path, "needs exactly one of Action and NotAction")
    element = "Action" if "Action" in raw else "NotAction"
    condition = raw.get("Condition")
    if condition is not None and not isinstance(condition, Mapping):
        raise PolicyDocumentError(policy, f"{path}.Condition", "is not an object")
    sid = raw.get("Sid")
    return Statement(
        where=StatementRef(policy, index, sid if isinstance(sid, str) and sid else None),
        allow=effect == "Allow",
        patterns=_texts(policy, f"{path}.{element}", raw[element]),
        not_action=element == "NotAction",
        conditional=bool(condition),
        every_resource="NotResource" not in raw and "*" in _resources(raw.get("Resource")),
    )


def _texts(policy: str, path: str, value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(item, str) for item in values):
        raise PolicyDocumentError(policy, path, "must be a string or a list of strings")
    return tuple(values)


def _resources(value: Any) -> Sequence[Any]:
    # Only read to decide whether a Deny covers everything; anything odd simply does not count as "*".
    if isinstance(value, str):
        return [value]
    return value if isinstance(value, list) else []


def _refs(statements: Sequence[Statement]) -> str:
    return ", ".join(str(statement.where) for statement in statements)
