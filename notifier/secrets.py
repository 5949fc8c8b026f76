"""Resolve secret references; the config never holds a secret, only where to find it.

References:

* ``env:NAME``                                  an environment variable (read on every call: cheap)
* ``ssm:/path/to/parameter``                    an SSM parameter, decrypted (SecureString)
* ``secretsmanager:name-or-arn``                a Secrets Manager secret's string
* ``secretsmanager:name-or-arn#json-key``       one key of a Secrets Manager secret holding a JSON object

SSM and Secrets Manager are read through Powertools' parameters utility, which caches each value for
``CACHE_SECONDS`` (300 s): a warm Lambda does not call the API per notification, and a rotated secret
is picked up within five minutes without a redeploy.

Errors name the reference and say why; they never contain a secret value (nor the JSON document a
key was looked up in). Failures that a retry may cure (throttling, 5xx, network) raise
`SecretUnavailable`, a `SecretError`, so a destination can tell its caller the delivery is retryable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .errors import SecretError

CACHE_SECONDS = 300
SCHEMES = ("env", "ssm", "secretsmanager")

# Error codes after which asking again later can succeed.
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "ThrottledException",
        "RequestLimitExceeded",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceError",
        "InternalServiceErrorException",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class SecretUnavailable(SecretError):
    """The secret store failed in a way a later retry may not (throttled, 5xx, unreachable)."""


def is_secret_reference(value: str) -> bool:
    scheme, sep, rest = value.partition(":")
    return bool(sep) and scheme in SCHEMES and bool(rest)


class SecretResolver:
    """Built once per process. Clients may be injected (tests point them at moto)."""

    def __init__(
        self,
        *,
        ssm_client: Any | None = None,
        secretsmanager_client: Any | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = environ if environ is not None else os.environ
        self._ssm_client = ssm_client
        self._secretsmanager_client = secretsmanager_client
        # Providers (and Powertools itself) are created on first use: a config holding only env:
        # references never pays for importing Powertools or creating a boto3 client at cold start.
        self._ssm: Any = None
        self._secrets: Any = None

    def resolve(self, reference: str) -> str:
        scheme, sep, rest = reference.partition(":")
        if not sep or not rest:
            raise SecretError(reference, "a secret reference looks like env:NAME, ssm:/path or secretsmanager:name")
        if scheme == "env":
            return self._from_env(reference, rest)
        if scheme == "ssm":
            return self._from_ssm(reference, rest)
        if scheme == "secretsmanager":
            return self._from_secrets_manager(reference, rest)
        raise SecretError(reference, f"unknown scheme {scheme!r} (use one of {', '.join(SCHEMES)})")

    def _from_env(self, reference: str, name: str) -> str:
        value = self._environ.get(name)
        if value is None:
            raise SecretError(reference, f"environment variable {name} is not set")
        if not value:
            raise SecretError(reference, f"environment variable {name} is empty")
        return value

    def _from_ssm(self, reference: str, name: str) -> str:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            if self._ssm_client is None:  # Powertools' shared provider, so its cache is shared too
                value = parameters.get_parameter(name, decrypt=True, max_age=CACHE_SECONDS)
            else:
                if self._ssm is None:
                    self._ssm = parameters.SSMProvider(boto3_client=self._ssm_client)
                value = self._ssm.get(name, max_age=CACHE_SECONDS, decrypt=True)
        except GetParameterError as exc:
            raise _store_failure(reference, "SSM Parameter Store", exc) from None
        return _as_text(reference, value)

    def _from_secrets_manager(self, reference: str, target: str) -> str:
        from aws_lambda_powertools.utilities import parameters
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        name, _, key = target.partition("#")
        try:
            if self._secretsmanager_client is None:
                value = parameters.get_secret(name, max_age=CACHE_SECONDS)
            else:
                if self._secrets is None:
                    self._secrets = parameters.SecretsProvider(boto3_client=self._secretsmanager_client)
                value = self._secrets.get(name, max_age=CACHE_SECONDS)
        except GetParameterError as exc:
            raise _store_failure(reference, "Secrets Manager", exc) from None
        text = _as_text(reference, value)
        return _json_key(reference, text, key) if key else text


def _as_text(reference: str, value: Any) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError(reference, "the stored value is binary, not UTF-8 text") from None
    if not isinstance(value, str) or not value:
        raise SecretError(reference, "the stored value is empty")
    return value


def _json_key(reference: str, text: str, key: str) -> str:
    # `from None` everywhere: a JSONDecodeError carries the whole document (the secret) in `.doc`.
    try:
        document = json.loads(text)
    except ValueError:
        raise SecretError(reference, f"the secret is not JSON, so it has no key {key!r}") from None
    if not isinstance(document, dict):
        raise SecretError(reference, f"the secret is not a JSON object, so it has no key {key!r}")
    if key not in document:
        raise SecretError(reference, f"the secret has no key {key!r} (keys: {', '.join(sorted(document))})")
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SecretError(reference, f"the secret's key {key!r} does not hold a string")
    return str(value)


def _store_failure(reference: str, store: str, exc: Exception) -> SecretError:
    # Powertools wraps the botocore error (as implicit context): classify on that, report its code only.
    # botocore's messages name the parameter, never its value, but we keep to the code and a short reason.
    cause = exc.__cause__ or exc.__context__
    code, message = _aws_error(cause)
    reason = f"{store} said {code}: {message}" if code else f"{store} could not be read: {type(cause).__name__}"
    if _is_transient(cause, code):
        return SecretUnavailable(reference, reason)
    return SecretError(reference, reason)


def _aws_error(error: BaseException | None) -> tuple[str | None, str]:
    response = getattr(error, "response", None)
    if not isinstance(response, dict):
        return None, ""
    details = response.get("Error", {})
    return details.get("Code"), str(details.get("Message", ""))[:200]


def _is_transient(error: BaseException | None, code: str | None) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    if code in _TRANSIENT_CODES:
        return True
    response = getattr(error, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return bool(status >= 500 or status == 429)


def resolve_for_delivery(secrets: SecretResolver, reference: str, *, destination: str, what: str | None = None) -> str:
    """The secret, or a DeliveryError naming the reference (never a value) and saying whether a retry
    helps (SecretUnavailable: throttled, 5xx, unreachable). Every channel resolves its secrets through
    this one translation. `what` ("SMTP password") prefixes the reason."""
    from .errors import DeliveryError

    try:
        return secrets.resolve(reference)
    except SecretError as exc:
        reason = f"cannot get the {what}: {exc}" if what else str(exc)
        raise DeliveryError(destination, reason, retryable=isinstance(exc, SecretUnavailable)) from None
