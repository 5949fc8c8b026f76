"""An SES destination without a rate_limit takes SES's own MaxSendRate (GetAccount, read once per
region); an explicit limit wins; a quota that cannot be read leaves the destination unlimited. moto
does not implement sesv2 GetAccount, so its answer comes from botocore's Stubber on a real client,
which checks the request and the response against the SES v2 service model."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from notifier.destinations.base import DestinationSpec
from notifier.destinations.ses_quota import with_ses_rate_limits
from notifier.digests.rate_limit import RateLimit

SES = {"via": "ses", "from": "alerts@example.com", "to": ["sec@example.com"], "region": "eu-west-1"}


def stubbed(max_send_rate: float, calls: list[str]) -> Any:
    client = boto3.client("sesv2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    quota = {"Max24HourSend": 50000.0, "MaxSendRate": max_send_rate, "SentLast24Hours": 0.0}
    stubber.add_response("get_account", {"SendQuota": quota}, {})
    stubber.activate()

    def factory(service: str, region: str | None) -> Any:
        calls.append(f"{service}:{region}")
        return client

    return factory


def test_ses_destinations_without_a_limit_take_the_accounts_sending_rate() -> None:
    calls: list[str] = []
    specs = {
        "a": DestinationSpec("a", "email", SES),
        "b": DestinationSpec("b", "email", {**SES, "to": ["other@example.com"]}),
        "own": DestinationSpec("own", "email", {**SES, "rate_limit": "5/min"}),
        "smtp": DestinationSpec("smtp", "email", {**SES, "via": "smtp", "host": "mail.example.com"}),
        "hook": DestinationSpec("hook", "webhook", {"url": "https://example.com"}),
    }
    result = with_ses_rate_limits(specs, stubbed(14.0, calls))
    assert calls == ["sesv2:eu-west-1"]  # one read for the region, shared by both destinations
    assert RateLimit.parse(result["a"].options["rate_limit"]) == RateLimit(840.0, 14)
    assert result["b"].options["rate_limit"] == result["a"].options["rate_limit"]
    assert result["own"].options["rate_limit"] == "5/min"  # the user's limit wins
    assert "rate_limit" not in result["smtp"].options and result["hook"] is specs["hook"]


def test_the_sandbox_rate_of_one_per_second_gives_a_burst_of_one() -> None:
    result = with_ses_rate_limits({"a": DestinationSpec("a", "email", SES)}, stubbed(1.0, []))
    assert RateLimit.parse(result["a"].options["rate_limit"]) == RateLimit(60.0, 1)


def test_an_unreadable_quota_leaves_the_destination_unlimited_and_says_so(
    aws_credentials: None, caplog: pytest.LogCaptureFixture
) -> None:
    with mock_aws():  # moto has no GetAccount: the call fails, as it would without ses:GetAccount
        client = boto3.client("sesv2", region_name="eu-west-1")
        with caplog.at_level(logging.WARNING):
            result = with_ses_rate_limits({"a": DestinationSpec("a", "email", SES)}, lambda s, r: client)
    assert "rate_limit" not in result["a"].options
    assert "cannot read the SES sending quota" in caplog.text
