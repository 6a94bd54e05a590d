"""Built-in plugins, registered in exactly one place: ``BUILTINS``.

Each entry is ``(kafka_class_name, "module:attribute")``. The registry indexes names and
aliases from this list without importing anything, and imports a plugin's module only when
a config uses it — a sink that needs the JsonConverter never pays for the Avro serde.
A new connector is one package under ``connectors/`` plus one line here.
"""

from __future__ import annotations

__all__ = ["ALIASES", "BUILTINS"]

_T = "org.apache.kafka.connect.transforms."
_P = "org.apache.kafka.connect.transforms.predicates."
_tm = "lambda_connect.plugins.transforms."


def _kv(name: str, module: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """The ``$Key``/``$Value`` pair of an SMT whose class nests ``Key`` and ``Value``."""
    return (
        (f"{_T}{name}$Key", f"{_tm}{module}:{name}.Key"),
        (f"{_T}{name}$Value", f"{_tm}{module}:{name}.Value"),
    )


BUILTINS: tuple[tuple[str, str], ...] = (
    # converters
    ("org.apache.kafka.connect.json.JsonConverter", "lambda_connect.plugins.converters.json:JsonConverter"),
    ("org.apache.kafka.connect.storage.StringConverter", "lambda_connect.plugins.converters.string:StringConverter"),
    (
        "org.apache.kafka.connect.converters.ByteArrayConverter",
        "lambda_connect.plugins.converters.bytearray:ByteArrayConverter",
    ),
    (
        "org.apache.kafka.connect.storage.SimpleHeaderConverter",
        "lambda_connect.plugins.converters.simple_header:SimpleHeaderConverter",
    ),
    ("io.confluent.connect.avro.AvroConverter", "lambda_connect.plugins.converters.avro:AvroConverter"),
    ("io.confluent.connect.protobuf.ProtobufConverter", "lambda_connect.plugins.converters.protobuf:ProtobufConverter"),
    (
        "com.amazonaws.services.schemaregistry.kafkaconnect.AWSKafkaAvroConverter",
        "lambda_connect.plugins.converters.glue_avro:AWSKafkaAvroConverter",
    ),
    (
        "com.amazonaws.services.schemaregistry.kafkaconnect.jsonschema.JsonSchemaConverter",
        "lambda_connect.plugins.converters.glue_json_schema:JsonSchemaConverter",
    ),
    (
        "com.amazonaws.services.schemaregistry.kafkaconnect.protobuf.ProtobufSchemaConverter",
        "lambda_connect.plugins.converters.glue_protobuf:ProtobufSchemaConverter",
    ),
    (
        "io.confluent.connect.json.JsonSchemaConverter",
        "lambda_connect.plugins.converters.json_schema:JsonSchemaConverter",
    ),
    # transformations
    *_kv("Cast", "cast"),
    (f"{_T}DropHeaders", f"{_tm}drop_headers:DropHeaders"),
    *_kv("ExtractField", "extract_field"),
    (f"{_T}Filter", f"{_tm}filter:Filter"),
    *_kv("Flatten", "flatten"),
    *_kv("HeaderFrom", "header_from"),
    *_kv("HoistField", "hoist_field"),
    *_kv("InsertField", "insert_field"),
    (f"{_T}InsertHeader", f"{_tm}insert_header:InsertHeader"),
    *_kv("MaskField", "mask_field"),
    (f"{_T}RegexRouter", f"{_tm}regex_router:RegexRouter"),
    *_kv("ReplaceField", "replace_field"),
    *_kv("SetSchemaMetadata", "set_schema_metadata"),
    *_kv("TimestampConverter", "timestamp_converter"),
    (f"{_T}TimestampRouter", f"{_tm}timestamp_router:TimestampRouter"),
    (f"{_T}ValueToKey", f"{_tm}value_to_key:ValueToKey"),
    ("io.debezium.transforms.ExtractNewRecordState", f"{_tm}extract_new_record_state:ExtractNewRecordState"),
    # predicates
    (f"{_P}HasHeaderKey", "lambda_connect.plugins.predicates.has_header_key:HasHeaderKey"),
    (f"{_P}RecordIsTombstone", "lambda_connect.plugins.predicates.record_is_tombstone:RecordIsTombstone"),
    (f"{_P}TopicNameMatches", "lambda_connect.plugins.predicates.topic_name_matches:TopicNameMatches"),
    # connectors
    (
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "lambda_connect.plugins.connectors.file.sink:FileStreamSinkConnector",
    ),
    (
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "lambda_connect.plugins.connectors.file.source:FileStreamSourceConnector",
    ),
    ("io.confluent.connect.jdbc.JdbcSinkConnector", "lambda_connect.plugins.connectors.jdbc.sink:JdbcSinkConnector"),
    (
        "io.confluent.connect.jdbc.JdbcSourceConnector",
        "lambda_connect.plugins.connectors.jdbc.source:JdbcSourceConnector",
    ),
    ("io.confluent.connect.s3.S3SinkConnector", "lambda_connect.plugins.connectors.s3.sink:S3SinkConnector"),
    (
        "io.confluent.connect.s3.source.S3SourceConnector",
        "lambda_connect.plugins.connectors.s3.source:S3SourceConnector",
    ),
    (
        "io.confluent.kafka.connect.datagen.DatagenConnector",
        "lambda_connect.plugins.connectors.datagen.connector:DatagenConnector",
    ),
    (
        "org.apache.iceberg.connect.IcebergSinkConnector",
        "lambda_connect.plugins.connectors.iceberg.sink:IcebergSinkConnector",
    ),
    (
        "io.tabular.iceberg.connect.IcebergSinkConnector",
        "lambda_connect.plugins.connectors.iceberg.sink:IcebergSinkConnector",
    ),
    ("io.confluent.connect.http.HttpSinkConnector", "lambda_connect.plugins.connectors.http.sink:HttpSinkConnector"),
    ("io.aiven.kafka.connect.http.HttpSinkConnector", "lambda_connect.plugins.connectors.http.sink:HttpSinkConnector"),
    (
        "io.confluent.connect.mqtt.MqttSourceConnector",
        "lambda_connect.plugins.connectors.mqtt.source:MqttSourceConnector",
    ),
    ("io.confluent.connect.mqtt.MqttSinkConnector", "lambda_connect.plugins.connectors.mqtt.sink:MqttSinkConnector"),
    (
        "io.confluent.connect.rabbitmq.RabbitMQSourceConnector",
        "lambda_connect.plugins.connectors.rabbitmq.source:RabbitMQSourceConnector",
    ),
    (
        "io.confluent.connect.rabbitmq.sink.RabbitMQSinkConnector",
        "lambda_connect.plugins.connectors.rabbitmq.sink:RabbitMQSinkConnector",
    ),
    ("com.redis.kafka.connect.RedisSinkConnector", "lambda_connect.plugins.connectors.redis.sink:RedisSinkConnector"),
    (
        "io.debezium.connector.postgresql.PostgresConnector",
        "lambda_connect.plugins.connectors.cdc.postgres.connector:PostgresConnector",
    ),
    (
        "io.debezium.connector.mysql.MySqlConnector",
        "lambda_connect.plugins.connectors.cdc.mysql.connector:MySqlConnector",
    ),
    (
        "io.debezium.connector.mariadb.MariaDbConnector",
        "lambda_connect.plugins.connectors.cdc.mysql.connector:MariaDbConnector",
    ),
)

#: Short names that are not derived from a class name but that configs in the wild use:
#: Debezium's examples name ExtractNewRecordState ``unwrap``, and people write that as the type.
#: ``JsonSchemaConverter`` is the simple name of Confluent's and of AWS Glue's JSON Schema converter;
#: it named Confluent's before the Glue one existed, so configs that use it keep working.
ALIASES: dict[str, str] = {
    "unwrap": "io.debezium.transforms.ExtractNewRecordState",
    "JsonSchemaConverter": "io.confluent.connect.json.JsonSchemaConverter",
    "JsonSchema": "io.confluent.connect.json.JsonSchemaConverter",
}
