"""The plugin contract of lambda-connect: everything a connector, converter, transform or
predicate needs, and nothing else. This package imports nothing else from lambda_connect,
so third-party plugins depend only on it."""

from .columns import ColumnarRecords, StructColumn
from .config import (
    REQUIRED,
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    Password,
    Width,
)
from .connector import (
    Connector,
    OffsetStorageReader,
    SinkConnector,
    SinkTask,
    SinkTaskContext,
    SourceConnector,
    SourceTask,
    SourceTaskContext,
    Task,
)
from .converter import Converter, HeaderConverter
from .data import Date, Decimal, Field, Schema, SchemaAndValue, Struct, Time, Timestamp, Type
from .errors import (
    AlreadyExistsException,
    ConfigException,
    ConflictException,
    ConnectException,
    DataException,
    NotFoundException,
    RetriableException,
)
from .records import ConnectRecord, Header, Headers, SinkRecord, SourceRecord
from .transform import Predicate, Transformation

__all__ = [
    "REQUIRED",
    "AlreadyExistsException",
    "ColumnarRecords",
    "Config",
    "ConfigDef",
    "ConfigException",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "ConflictException",
    "ConnectException",
    "ConnectRecord",
    "Connector",
    "Converter",
    "DataException",
    "Date",
    "Decimal",
    "Field",
    "Header",
    "HeaderConverter",
    "Headers",
    "Importance",
    "NotFoundException",
    "OffsetStorageReader",
    "Password",
    "Predicate",
    "RetriableException",
    "Schema",
    "SchemaAndValue",
    "SinkConnector",
    "SinkRecord",
    "SinkTask",
    "SinkTaskContext",
    "SourceConnector",
    "SourceRecord",
    "SourceTask",
    "SourceTaskContext",
    "Struct",
    "StructColumn",
    "Task",
    "Time",
    "Timestamp",
    "Transformation",
    "Type",
    "Width",
]
