"""Build the process-wide pieces once: config (from a file, S3 or SSM), destinations, state."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from .errors import NotifierError
from .pipeline import Pipeline
from .routing.config import RoutingConfig, load_config, parse_config
from .state import default_state_url, open_state
from .state.base import StateStore


def load_config_reference(reference: str, *, client_factory: Any = None) -> RoutingConfig:
    """NOTIFIER_CONFIG: a path, `s3://bucket/key`, or `ssm:/parameter-name`."""
    if reference.startswith("s3://"):
        bucket, _, key = reference.removeprefix("s3://").partition("/")
        client = (client_factory or _boto3_client)("s3", None)
        text = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        return parse_config(text, reference, Path.cwd())
    if reference.startswith("ssm:"):
        client = (client_factory or _boto3_client)("ssm", None)
        name = reference.removeprefix("ssm:")
        text = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return parse_config(text, reference, Path.cwd())
    return load_config(Path(reference))


def build_pipeline(
    config: RoutingConfig,
    *,
    state: StateStore | None,
    client_factory: Any = None,
    dry_run_updates_state: bool | None = None,
) -> Pipeline:
    """A pipeline that really delivers: destinations are connected lazily, on first use.
    `dry_run_updates_state` None means NOTIFIER_DRY_RUN_UPDATES_STATE decides (false when unset)."""
    from .destinations.registry import BuildContext, build_destination, default_client_factory
    from .destinations.ses_quota import with_ses_rate_limits
    from .dry_run import updates_state_from_environment
    from .render import Renderer
    from .secrets import SecretResolver

    clients = client_factory or default_client_factory
    context = BuildContext(
        renderer=Renderer(config.templates_dir), secrets=SecretResolver(), client_factory=clients, state=state
    )
    return Pipeline(
        config.tree,
        with_ses_rate_limits(config.destinations, clients),  # SES's MaxSendRate, unless rate_limit says otherwise
        state=state,
        connect=functools.partial(build_destination, context=context),
        invalid_messages=config.invalid_messages,
        silences=config.silences,
        dry_run_outbox=config.dry_run_outbox,
        dry_run_updates_state=(
            updates_state_from_environment() if dry_run_updates_state is None else dry_run_updates_state
        ),
    )


def pipeline_from_environment() -> Pipeline:
    """The Lambda's cold start: config, then every secret reference resolved once (a reference that does not
    resolve fails here, naming it, rather than at the first notification), then the state store."""
    from .secret_references import require_resolvable
    from .secrets import SecretResolver

    reference = os.environ.get("NOTIFIER_CONFIG")
    if not reference:
        raise NotifierError("NOTIFIER_CONFIG is not set: point it at the routing config (path, s3:// or ssm:)")
    config = load_config_reference(reference)
    require_resolvable(config.destinations, SecretResolver(), config.source)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not os.environ.get("NOTIFIER_STATE"):
        from .telemetry import logger

        # /tmp lives and dies with the container: duplicates across containers and held digests are lost.
        logger.warning(
            "NOTIFIER_STATE is not set: state is a SQLite file in /tmp, per container and lost with it; "
            "set NOTIFIER_STATE=dynamodb://TABLE for de-duplication, tickets and digests that survive"
        )
    return build_pipeline(config, state=open_state(default_state_url()))


def _boto3_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)
