"""The state table: connector configs, task configs, statuses, source offsets, task leases,
platform resources and active topics — what Kafka Connect keeps in its internal topics.

``open_store()`` chooses the backend from ``LAMBDA_CONNECT_STATE_URL`` (``memory://``,
``sqlite:///path``, ``postgresql://…``, ``mysql://…``, ``dynamodb://TABLE``). Backends are imported
only when opened, so importing this package never loads SQLAlchemy or boto3.
"""

from .base import (
    DEFAULT_STATE_URL,
    STATE_URL_ENV,
    TARGET_STATES,
    ConnectorEntry,
    Lease,
    StateStore,
    StatusEntry,
    TaskConfigs,
    open_store,
    partition_key,
)

__all__ = [
    "DEFAULT_STATE_URL",
    "STATE_URL_ENV",
    "TARGET_STATES",
    "ConnectorEntry",
    "Lease",
    "StateStore",
    "StatusEntry",
    "TaskConfigs",
    "open_store",
    "partition_key",
]
