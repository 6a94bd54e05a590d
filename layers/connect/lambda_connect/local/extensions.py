"""What ``lambda-connect up`` adds to the REST API beyond Kafka Connect's: DLQ listing and replay,
``GET /metrics`` with the status JSON's ``lambda_connect`` key, and the task ``worker_id``.

Kept out of ``local.runtime`` so the runtime's start stays one call here.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["attach_extensions"]


def attach_extensions(service: Any, kafka: Any, store: Any) -> None:
    """Wire the extensions into a started runtime's ``ConnectService``. Tasks report
    ``service.worker_id`` (the REST host:port) as theirs: the handlers read it from the
    environment at each invocation, as they would read their function's alias in Lambda."""
    from lambda_connect.aws.consumer_lag import ConsumerLag
    from lambda_connect.aws.dlq_topic import KafkaDlqTopicAccess
    from lambda_connect.aws.metrics import WORKER_ID_ENV
    from lambda_connect.rest import dlq, metrics
    from lambda_connect.runtime.task_metrics import COLLECTOR

    dlq.attach(service, lambda: KafkaDlqTopicAccess(kafka))
    metrics.attach(service, metrics.MetricsView(COLLECTOR, store, ConsumerLag(kafka, store).lag))
    os.environ[WORKER_ID_ENV] = service.worker_id
