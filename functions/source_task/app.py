"""Source task function: one tick of a source task's schedule per invocation."""

from lambda_connect.aws.metrics import configure_logging, make_logger
from lambda_connect.aws.source_handler import SourceHandler

logger = make_logger("source-task")
configure_logging(logger)
handler = SourceHandler()  # state store, worker and Kafka clients live as long as the container


def lambda_handler(event: dict, context: object) -> dict:
    return handler(event, context)
