"""NOTIFIER_CONFIG may point at a file, an S3 object or an SSM parameter (moto for the latter two)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from notifier.app import load_config_reference
from notifier.errors import ConfigError

CONFIG = """
destinations:
  audit: {type: file, path: /tmp/audit.jsonl}
routes:
  - {name: all, match: {rule: '*'}, destinations: [audit]}
"""


def test_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "routes.yml").write_text(CONFIG)
    assert load_config_reference(str(tmp_path / "routes.yml")).tree.route_names == ("all",)


@mock_aws
def test_from_s3(aws_credentials: None) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="cfg")
    s3.put_object(Bucket="cfg", Key="notifier/routes.yml", Body=CONFIG.encode())
    config = load_config_reference("s3://cfg/notifier/routes.yml")
    assert config.source == "s3://cfg/notifier/routes.yml" and list(config.destinations) == ["audit"]


@mock_aws
def test_from_ssm_and_problems_name_the_parameter(aws_credentials: None) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/notifier/routes", Value=CONFIG, Type="String")
    assert load_config_reference("ssm:/notifier/routes").tree.route_names == ("all",)
    ssm.put_parameter(Name="/notifier/broken", Value="routes: 3\n", Type="String")
    with pytest.raises(ConfigError) as raised:
        load_config_reference("ssm:/notifier/broken")
    assert all(str(problem).startswith("ssm:/notifier/broken:") for problem in raised.value.problems)
