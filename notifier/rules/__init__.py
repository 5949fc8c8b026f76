"""Custom AWS Config rules and their base (see docs/rules.md).

    ConfigRule          a rule: parse_parameters / evaluate_change / evaluate_periodic
    Verdict, Evaluation what a rule reports (COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE)
    ConfigurationItem   the item a change trigger delivers, from the event or from the history API
    RuleParameters      the event's ruleParameters, with typed accessors raising RuleParameterError
    AwsClients          boto3 clients made on first use; tests inject their own
    run_rule            the evaluator: Lambda event in, PutEvaluations out

Nothing here imports the delivery side (jinja2, requests, yaml, jsonschema, powertools) or boto3 at
import time: a rule Lambda's cold start stays small. A test checks it.
"""

from .base import (
    ANNOTATION_LIMIT,
    AwsClients,
    ConfigRule,
    Evaluation,
    Invocation,
    RuleEventError,
    Verdict,
    fit_annotation,
)
from .config_items import ConfigurationItem, MalformedConfigurationItem
from .evaluator import EvaluationsRejected, lambda_handler_for, run_rule
from .parameters import RuleParameterError, RuleParameters

__all__ = [
    "ANNOTATION_LIMIT",
    "AwsClients",
    "ConfigRule",
    "ConfigurationItem",
    "Evaluation",
    "EvaluationsRejected",
    "Invocation",
    "MalformedConfigurationItem",
    "RuleEventError",
    "RuleParameterError",
    "RuleParameters",
    "Verdict",
    "fit_annotation",
    "lambda_handler_for",
    "run_rule",
]
