"""Sink task function: one Kafka batch from the connector's event source mapping per invocation."""

from lambda_connect.aws.metrics import configure_logging, make_logger
from lambda_connect.aws.sink_handler import SinkHandler

logger = make_logger("sink-task")
configure_logging(logger)
handler = SinkHandler()  # state store, pipeline cache and DLQ clients live as long as the container


def lambda_handler(event: dict, context: object) -> dict:
    return handler(event, context)
