"""The `lambda` destination: invoke a remediation function asynchronously, behind the guard rails.

    send:  decide (remediation.guard)  ──►  invoke (InvocationType=Event)  ──►  count
           "none" | "blocked:<reason>"      only for "invoke"; a failure        the buckets the guard
           | "dry-run" | "invoke"           raises DeliveryError and counts     names for that action
                                            nothing

`send` returns what it did, which becomes the Delivery's action: "invoked", "dry-run", "none" or
"blocked:<reason>". `preview_action` is the same decision for `explain`: it reads the counters and
never records, invokes or logs.

Never twice for one change: `delivery.deliver` claims (change, destination) in the state store before
calling `send`, and every outcome above completes the claim, so a redelivered notification gets
"already_sent". Note what that means for a blocked remediation: it is not deferred. A rate-limited
resource stays non-compliant, and its ticket or email (other destinations) is what tells a person.

Options the other channels share: `dry_run: true` rehearses: the guard decides on the real counts, and
when it says invoke (`mode: enforce`) the Invoke request it would make is recorded by a stand-in client
(destinations/recording.py), not made; nothing is counted, logged or alarmed. With `mode: dry-run` the
guard decides "dry-run" and nothing would be invoked, so only the decision is recorded.
`template` is not used, because the payload is a versioned contract, not a rendering; `timeout` is not
needed, because an Event invoke is answered as soon as Lambda has queued it, within botocore's timeouts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import DeliveryError, NotifierError
from ..notification import ComplianceNotification
from ..remediation.guard import INVOKE, NOTHING, Blocked, GuardSettings, breaker_count, decide, recorded_buckets
from ..remediation.payload import build_payload, encode_payload
from ..state.base import StateStore, utc_now
from ..state.event_log import EventLog
from ..telemetry import NAMESPACE, logger
from ..transition import TransitionKind
from .base import DestinationSpec, Outgoing

if TYPE_CHECKING:
    from .registry import BuildContext

INVOKED = "invoked"
BREAKER_METRIC = "remediation_breaker_open"

# Invoke errors a retry can cure (throttling, a function being updated or not ready, Lambda's own
# failures). Every other modeled error is permanent: a missing function, a refused permission, a bad
# payload, or a broken function configuration (KMS, VPC, runtime) that a person has to fix.
_RETRYABLE_CODES = frozenset(
    {
        "TooManyRequestsException",
        "ThrottlingException",
        "Throttling",
        "ServiceException",
        "ResourceConflictException",
        "ResourceNotReadyException",
        "EC2ThrottledException",
        "EC2UnexpectedException",
        "ENILimitReachedException",
        "ENINotReadyException",
        "SubnetIPAddressLimitReachedException",
        "SnapStartNotReadyException",
        "RequestTimeout",
    }
)
_PERMANENT_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "InvalidParameterValueException",
        "InvalidRequestContentException",
        "RequestTooLargeException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "EC2AccessDeniedException",
        "InvalidSecurityGroupIDException",
        "InvalidSubnetIDException",
        "InvalidRuntimeException",
        "InvalidZipFileException",
    }
)


class EventRecorder(Protocol):
    """A StateStore, or an in-process EventLog when no store is configured."""

    def count_events(self, bucket: str, *, since: datetime) -> int: ...

    def record_event(self, bucket: str, *, at: datetime) -> None: ...


class RemediationDestination:
    def __init__(
        self,
        spec: DestinationSpec,
        settings: GuardSettings,
        client: Any,
        counter: EventRecorder,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.client = client
        self.counter = counter
        self.clock = clock
        # Decide, act and count as one step within this process: batch threads sending at once would each
        # read the same counts and all pass a limit meant for one more (across processes, see guard.py).
        self._guard_lock = threading.Lock()

    def send(self, outgoing: Outgoing, *, now: datetime | None = None) -> str:
        with self._guard_lock:
            if self.spec.dry_run:
                return self._rehearse(outgoing, now or self.clock())
            return self._send(outgoing, now or self.clock())

    def _decide(self, outgoing: Outgoing, now: datetime) -> str:
        try:
            return decide(self.settings, outgoing.notification, outgoing.transition.kind, self.counter, now)
        except NotifierError as error:  # the counters are unreadable: never invoke blind
            reason = f"cannot read the remediation counters: {error}"
            raise DeliveryError(self.spec.name, reason, retryable=True) from error

    def _rehearse(self, outgoing: Outgoing, now: datetime) -> str:
        """`dry_run: true`: decide as for real; the Invoke it would make goes to the recording client."""
        action = self._decide(outgoing, now)
        if action == INVOKE:
            payload = build_payload(outgoing, destination=self.spec.name, dry_run=False, requested_at=now)
            function, body = self.settings.function, encode_payload(payload)
            self.client.invoke(FunctionName=function, InvocationType="Event", Payload=body)
        return action

    def _send(self, outgoing: Outgoing, now: datetime) -> str:
        notification = outgoing.notification
        action = self._decide(outgoing, now)
        if action == INVOKE:
            self._invoke(outgoing, now)  # raises DeliveryError; then nothing was done, so nothing is counted
        elif action == Blocked.CIRCUIT_BREAKER.action:
            self._report_open_breaker(notification, now)
        elif action != NOTHING:
            logger.info(f"remediation {action}", extra={"remediation": self._facts(notification)})
        self._count(notification, action, now)
        return INVOKED if action == INVOKE else action

    def _invoke(self, outgoing: Outgoing, now: datetime) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = build_payload(outgoing, destination=self.spec.name, dry_run=False, requested_at=now)
        try:
            self.client.invoke(
                FunctionName=self.settings.function, InvocationType="Event", Payload=encode_payload(payload)
            )
        except (ClientError, BotoCoreError) as error:
            raise invoke_failure(self.spec.name, self.settings.function, error) from error
        facts = {**self._facts(outgoing.notification), "idempotency_key": payload["idempotency_key"]}
        logger.info("remediation invoked", extra={"remediation": facts})

    def _count(self, notification: ComplianceNotification, action: str, now: datetime) -> None:
        try:
            for bucket in recorded_buckets(self.settings, notification.rule, action):
                self.counter.record_event(bucket, at=now)
        except NotifierError as error:
            # What was decided has been done (an invoke cannot be taken back): failing the delivery now
            # would release its claim and invoke again on a retry. The limits undercount instead: say so.
            facts = {**self._facts(notification), "error": str(error)}
            logger.error("remediation counters not updated", extra={"remediation": facts})

    def _report_open_breaker(self, notification: ComplianceNotification, now: datetime) -> None:
        """One ERROR line per blocked resource, which is also a CloudWatch metric: the line is an Embedded
        Metric Format document (`_aws`), so an alarm on `remediation_breaker_open` needs no other code."""
        try:
            wanted: int | None = breaker_count(self.settings, self.counter, now)
        except NotifierError:  # the decision has been made; a failed second read must not hide the alarm
            wanted = None
        metric = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [["destination"]],
                        "Metrics": [{"Name": BREAKER_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "destination": self.spec.name,
            BREAKER_METRIC: 1,
        }
        facts = {
            **self._facts(notification),
            "wanted_in_window": wanted,
            "breaker_max": self.settings.breaker_max,
            "breaker_window_seconds": self.settings.breaker_window.total_seconds(),
        }
        logger.error(
            "remediation circuit breaker open: too many resources to remediate at once; nothing is invoked "
            "until the breaker window has been quiet (a storm usually means something else is wrong)",
            extra={**metric, "remediation": facts},
        )

    def _facts(self, notification: ComplianceNotification) -> dict[str, str]:
        n = notification
        return {
            "destination": self.spec.name,
            "function": self.settings.function,
            "rule": n.rule,
            "account": n.account,
            "region": n.region,
            "resource_type": n.resource_type,
            "resource_id": n.resource_id,
        }


def create(spec: DestinationSpec, context: BuildContext) -> RemediationDestination:
    settings = GuardSettings.from_spec(spec)
    counter: EventRecorder = context.state if context.state is not None else EventLog()
    if context.state is None and settings.enforce:
        logger.warning(
            f"destination {spec.name!r}: remediation in enforce mode without a state store; the rate limit and "
            "circuit breaker count in this process only, from zero at every cold start (configure NOTIFIER_STATE)"
        )
    client = context.client_factory("lambda", settings.region)
    if spec.dry_run:  # the Invoke call is recorded, never made
        from .recording import RecordingAwsClient, RequestMask

        client = RecordingAwsClient(client, RequestMask.of(spec, context.secrets))
    return RemediationDestination(spec, settings, client, counter)


class _NoEvents:
    def count_events(self, bucket: str, *, since: datetime) -> int:
        return 0


def preview_action(
    spec: DestinationSpec,
    notification: ComplianceNotification,
    kind: TransitionKind,
    state: StateStore | None,
    now: datetime,
) -> str:
    """What `send` would decide now, for `explain`: "invoke", "dry-run", "none" or "blocked:<reason>".
    Read-only: counts are read from `state` (none without one), nothing is recorded, invoked or logged.
    Raises NotifierError when the destination's options are invalid."""
    return decide(GuardSettings.from_spec(spec), notification, kind, state if state is not None else _NoEvents(), now)


def invoke_failure(destination: str, function: str, error: Exception) -> DeliveryError:
    """A botocore error as a DeliveryError that says whether a retry can help."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if not isinstance(error, ClientError):
        # No answer at all: a network failure may pass; a local problem (no credentials) will not.
        retryable = isinstance(error, BotoConnectionError | HTTPClientError)
        return DeliveryError(destination, f"invoking {function} failed: {error}", retryable=retryable)
    details = error.response.get("Error", {})
    code = str(details.get("Code", "Unknown"))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    # Listed codes first: several permanent ones (KMS, VPC, runtime) come back as 502.
    retryable = code not in _PERMANENT_CODES and (code in _RETRYABLE_CODES or status >= 500 or status == 429)
    message = details.get("Message")
    reason = f"Lambda refused to invoke {function}: {code}" + (f": {message}" if message else "")
    return DeliveryError(destination, reason, retryable=retryable, retry_after=_retry_after(error.response))


def _retry_after(response: dict[str, Any]) -> float | None:
    """TooManyRequestsException carries Lambda's Retry-After header as `retryAfterSeconds`."""
    value = response.get("retryAfterSeconds")
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
