"""Kafka Connect's REST API behind API Gateway (HTTP API, payload format 2.0)."""

import os

from aws_lambda_powertools import Logger
from lambda_connect.aws.dlq_topic import KafkaDlqTopicAccess
from lambda_connect.aws.secrets import open_secret_store
from lambda_connect.aws.sink_offsets import KafkaSinkOffsets
from lambda_connect.rest.http_api import build_handler
from lambda_connect.state import open_store

logger = Logger(service="connector-api")
KAFKA = bool(os.environ.get("LAMBDA_CONNECT_BOOTSTRAP_SERVERS"))
SINK_OFFSETS = KafkaSinkOffsets.from_env() if KAFKA else None
HANDLER = build_handler(open_store(), open_secret_store(), SINK_OFFSETS, os.environ,
                        dlq_access=KafkaDlqTopicAccess if KAFKA else None)


@logger.inject_lambda_context
def lambda_handler(event: dict, context: object) -> dict:
    return HANDLER(event, context)
