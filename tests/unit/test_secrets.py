"""Secret references: env, SSM (SecureString) and Secrets Manager through moto; errors never leak values."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from notifier.errors import SecretError
from notifier.secrets import SecretResolver, SecretUnavailable, is_secret_reference

REGION = "eu-west-1"
VALUE = "s3cr3t-Value-that-must-never-leak"


@pytest.fixture
def aws(aws_credentials: None) -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            "ssm": boto3.client("ssm", region_name=REGION),
            "secretsmanager": boto3.client("secretsmanager", region_name=REGION),
        }


def closed_port() -> int:
    with socket.socket() as probe:  # bound then released: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def resolver_for(aws: dict[str, Any]) -> SecretResolver:
    return SecretResolver(ssm_client=aws["ssm"], secretsmanager_client=aws["secretsmanager"])


def test_env_reference_reads_the_variable() -> None:
    assert SecretResolver(environ={"SMTP_PASSWORD": VALUE}).resolve("env:SMTP_PASSWORD") == VALUE


@pytest.mark.parametrize("environ", [{}, {"SMTP_PASSWORD": ""}])
def test_missing_env_variable_names_the_reference(environ: dict[str, str]) -> None:
    with pytest.raises(SecretError) as caught:
        SecretResolver(environ=environ).resolve("env:SMTP_PASSWORD")
    assert caught.value.reference == "env:SMTP_PASSWORD"
    assert "'env:SMTP_PASSWORD'" in str(caught.value) and "SMTP_PASSWORD is" in str(caught.value)


def test_env_is_read_from_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFIER_TEST_SECRET", VALUE)
    assert SecretResolver().resolve("env:NOTIFIER_TEST_SECRET") == VALUE


@pytest.mark.parametrize("reference", ["plain-text-password", "vault:kv/x", "env:", "ssm:"])
def test_a_literal_or_unknown_scheme_is_refused_without_echoing_more_than_the_reference(reference: str) -> None:
    assert not is_secret_reference(reference)
    with pytest.raises(SecretError, match="cannot resolve secret"):
        SecretResolver(environ={}).resolve(reference)


def test_ssm_securestring_is_decrypted(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/notifier/smtp/password", Value=VALUE, Type="SecureString")
    assert resolver_for(aws).resolve("ssm:/notifier/smtp/password") == VALUE


def test_ssm_values_are_cached_for_five_minutes(aws: dict[str, Any]) -> None:
    aws["ssm"].put_parameter(Name="/notifier/token", Value="first", Type="SecureString")
    resolver = resolver_for(aws)
    assert resolver.resolve("ssm:/notifier/token") == "first"
    aws["ssm"].put_parameter(Name="/notifier/token", Value="rotated", Type="SecureString", Overwrite=True)
    assert resolver.resolve("ssm:/notifier/token") == "first"  # served from the cache: no API call per message


def test_missing_ssm_parameter_is_a_permanent_error_naming_the_reference(aws: dict[str, Any]) -> None:
    with pytest.raises(SecretError) as caught:
        resolver_for(aws).resolve("ssm:/notifier/absent")
    assert not isinstance(caught.value, SecretUnavailable)
    assert "'ssm:/notifier/absent'" in str(caught.value) and "ParameterNotFound" in str(caught.value)


def test_ssm_through_powertools_default_provider(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from aws_lambda_powertools.utilities.parameters.constants import DEFAULT_PROVIDERS

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delitem(DEFAULT_PROVIDERS, "ssm", raising=False)  # restored afterwards: no provider leaks
    aws["ssm"].put_parameter(Name="/notifier/default-path", Value=VALUE, Type="SecureString")
    assert SecretResolver().resolve("ssm:/notifier/default-path") == VALUE


def test_secrets_manager_string(aws: dict[str, Any]) -> None:
    aws["secretsmanager"].create_secret(Name="notifier/jira-token", SecretString=VALUE)
    assert resolver_for(aws).resolve("secretsmanager:notifier/jira-token") == VALUE


def test_secrets_manager_json_key_by_name_and_by_arn(aws: dict[str, Any]) -> None:
    arn = aws["secretsmanager"].create_secret(
        Name="notifier/servicenow", SecretString=json.dumps({"client_id": "abc", "client_secret": VALUE, "port": 8443})
    )["ARN"]
    resolver = resolver_for(aws)
    assert resolver.resolve("secretsmanager:notifier/servicenow#client_secret") == VALUE
    assert resolver.resolve(f"secretsmanager:{arn}#client_id") == "abc"
    assert resolver.resolve("secretsmanager:notifier/servicenow#port") == "8443"


@pytest.mark.parametrize(
    ("stored", "reference", "says"),
    [
        (json.dumps({"password": VALUE}), "secretsmanager:notifier/s#token", "has no key 'token' (keys: password)"),
        (VALUE, "secretsmanager:notifier/s#token", "is not JSON"),
        (json.dumps([VALUE]), "secretsmanager:notifier/s#token", "is not a JSON object"),
        (json.dumps({"token": {"nested": VALUE}}), "secretsmanager:notifier/s#token", "does not hold a string"),
    ],
)
def test_json_key_errors_never_contain_the_secret(aws: dict[str, Any], stored: str, reference: str, says: str) -> None:
    aws["secretsmanager"].create_secret(Name="notifier/s", SecretString=stored)
    with pytest.raises(SecretError) as caught:
        resolver_for(aws).resolve(reference)
    assert says in str(caught.value)
    assert reference in str(caught.value)
    assert VALUE not in str(caught.value) and VALUE not in repr(caught.value)
    assert caught.value.__cause__ is None  # a chained JSONDecodeError would carry the document in `.doc`


def test_missing_secret_names_the_reference(aws: dict[str, Any]) -> None:
    with pytest.raises(SecretError, match=r"'secretsmanager:notifier/absent'.*ResourceNotFoundException"):
        resolver_for(aws).resolve("secretsmanager:notifier/absent")


def test_throttling_is_reported_as_unavailable_so_a_retry_can_help(aws_credentials: None) -> None:
    client = boto3.client("ssm", region_name=REGION)
    with Stubber(client) as stubber:  # botocore's own stubbing: the error comes back through the real parser
        stubber.add_client_error("get_parameter", service_error_code="ThrottlingException", http_status_code=400)
        with pytest.raises(SecretUnavailable, match="ThrottlingException"):
            SecretResolver(ssm_client=client).resolve("ssm:/notifier/busy")


def test_an_unreachable_store_is_reported_as_unavailable(aws_credentials: None) -> None:
    client = boto3.client(
        "secretsmanager",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{closed_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    with pytest.raises(SecretUnavailable, match="'secretsmanager:notifier/x'"):
        SecretResolver(secretsmanager_client=client).resolve("secretsmanager:notifier/x")
