"""The Config rule base: what a rule writes, and what it is given.

A rule is a `ConfigRule` subclass with three methods:

    parse_parameters(parameters: RuleParameters) -> P
        turns the raw `ruleParameters` into the rule's own frozen settings (raise RuleParameterError);
    evaluate_change(configuration_item, parameters, clients) -> Verdict | Iterable[Evaluation]
        one configuration item that is in scope and not deleted; a `Verdict` speaks for that item;
    evaluate_periodic(parameters, clients, invocation) -> Iterable[Evaluation]
        a scheduled run (`invocation` says which account, rule and time); every resource it returns is
        one this rule still sees.

The rule never sees the Config API: `evaluator.run_rule` reads the Lambda event, answers deleted and
out-of-scope items with NOT_APPLICABLE, fetches oversized items, stamps the ordering timestamp, sends
evaluations in batches of 100 and retires resources a periodic run no longer reports. Rules stay
pure enough to test with a configuration item and a parameters object.

This package imports only the standard library and `..transition` at import time (boto3 is imported
when a client is first used), so a rule Lambda's cold start stays small.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from ..transition import Compliance
from .config_items import ConfigurationItem
from .parameters import RuleParameters

ANNOTATION_LIMIT = 256  # characters; PutEvaluations rejects a longer Annotation
ACCOUNT_RESOURCE_TYPE = "AWS::::Account"

# What a rule may report: Config refuses INSUFFICIENT_DATA from a rule, and NONE is ours.
REPORTABLE = frozenset({Compliance.COMPLIANT, Compliance.NON_COMPLIANT, Compliance.NOT_APPLICABLE})


def fit_annotation(text: str) -> str:
    """Config keeps 256 characters; cut longer text so that the cut shows."""
    text = " ".join(text.split())  # one line: newlines read badly in the console and in emails
    return text if len(text) <= ANNOTATION_LIMIT else text[: ANNOTATION_LIMIT - 1] + "…"


@dataclass(frozen=True, slots=True)
class Invocation:
    """What the invoking Lambda event says about this run, beside the item and the parameters."""

    rule_name: str
    account_id: str
    message_type: str  # ConfigurationItemChangeNotification, Oversized…, ScheduledNotification
    notification_time: datetime  # OrderingTimestamp of a periodic run's evaluations
    result_token: str
    evaluation_mode: str | None = None  # DETECTIVE or PROACTIVE when the event says (since 2022)
    event_left_scope: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on the configuration item a change trigger delivered."""

    compliance: Compliance
    annotation: str = ""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One resource's result, as PutEvaluations takes it (ordering_timestamp None: the evaluator's)."""

    resource_type: str
    resource_id: str
    compliance: Compliance
    annotation: str = ""
    ordering_timestamp: datetime | None = None

    def __post_init__(self) -> None:
        if self.compliance not in REPORTABLE:
            raise ValueError(f"a rule cannot report {self.compliance.value} (Config accepts {sorted(REPORTABLE)})")
        if not self.resource_type or not self.resource_id:
            raise ValueError("an evaluation needs a resource type and a resource id")

    @classmethod
    def of(cls, item: ConfigurationItem, verdict: Verdict) -> Evaluation:
        return cls(item.resource_type, item.resource_id, verdict.compliance, verdict.annotation, item.capture_time)

    def as_request(self, default_timestamp: datetime) -> dict[str, Any]:
        """The PutEvaluations `Evaluations` entry (Annotation omitted when empty: its minimum is 1)."""
        entry: dict[str, Any] = {
            "ComplianceResourceType": self.resource_type,
            "ComplianceResourceId": self.resource_id,
            "ComplianceType": self.compliance.value,
            "OrderingTimestamp": self.ordering_timestamp or default_timestamp,
        }
        annotation = fit_annotation(self.annotation)
        if annotation:
            entry["Annotation"] = annotation
        return entry


P = TypeVar("P")


class RuleEventError(ValueError):
    """The Lambda event is not a Config rule invocation this rule can take (notifier.rules.evaluator)."""


class ConfigRule(ABC, Generic[P]):
    """Subclasses set `name` and `resource_types`, and implement the methods they use.

    `resource_types`: what a change trigger evaluates; an item of another type gets NOT_APPLICABLE.
    `periodic_resource_types`: the types a periodic run enumerates completely. After such a run, a
    resource of these types that Config still holds as COMPLIANT or NON_COMPLIANT for this rule but that
    the run did not report is gone: the evaluator reports it NOT_APPLICABLE. Leave it empty for a rule
    whose periodic run does not see every resource of a type.
    """

    name: ClassVar[str]
    resource_types: ClassVar[frozenset[str]]
    periodic_resource_types: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def parse_parameters(self, parameters: RuleParameters) -> P:
        """The rule's settings; raise RuleParameterError naming the parameter that is wrong."""

    def evaluate_change(
        self, configuration_item: ConfigurationItem, parameters: P, clients: AwsClients
    ) -> Verdict | Iterable[Evaluation]:
        """Override for a rule Config triggers on configuration changes. The default refuses: a rule deployed
        with a trigger it does not have is a deployment mistake, which must fail loudly, naming the rule."""
        raise RuleEventError(f"{self.name} is not triggered by configuration changes; check its SourceDetails")

    def evaluate_periodic(self, parameters: P, clients: AwsClients, invocation: Invocation) -> Iterable[Evaluation]:
        """Override for a rule Config runs on a schedule; the default refuses, as `evaluate_change` does."""
        raise RuleEventError(f"{self.name} is not triggered periodically; check its SourceDetails")


ClientFactory = Callable[[str], Any]


def _boto3_client(service: str) -> Any:
    import boto3  # here, not at import time: the Lambda runtime has it, and only a run needs it
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))


class AwsClients:
    """boto3 clients made on first use, one per service, kept for the life of the process.

    Tests pass `factory` (e.g. a session's `client` under moto) or ready clients by service name.
    """

    def __init__(self, factory: ClientFactory = _boto3_client, **ready: Any):
        self._factory = factory
        self._clients: dict[str, Any] = dict(ready)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._factory(service)
        return self._clients[service]

    @property
    def config(self) -> Any:
        return self.client("config")

    @property
    def iam(self) -> Any:
        return self.client("iam")
