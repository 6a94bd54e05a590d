"""Reconciler function: the state table's stream, direct ``{"connector": name}`` invokes and the
periodic ``{"rescan": true}`` converge connectors onto aliases, event source mappings and schedules."""

from aws_lambda_powertools import Logger
from lambda_connect.aws.reconciler_handler import handler_from_env

logger = Logger(service="lambda-connect-reconciler")
handler = handler_from_env()


@logger.inject_lambda_context
def lambda_handler(event: dict, context: object) -> dict:
    return handler.handle(event)
