"""Kafka Connect's REST entities: the JSON shapes (field names exactly as Kafka writes them)
and their JSON Schemas, from which the OpenAPI document is generated.

Builders take plain values and return plain dicts, so resources never assemble JSON by hand
and the schema next to each builder documents what it produces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "SCHEMAS",
    "active_topics",
    "connector_info",
    "connector_offsets",
    "connector_state_info",
    "message",
    "server_info",
    "state_entry",
    "task_id",
    "task_info",
    "task_state",
    "tasks_config",
    "worker_status",
]


def server_info(version: str, commit: str, kafka_cluster_id: str) -> dict[str, str]:
    return {"version": version, "commit": commit, "kafka_cluster_id": kafka_cluster_id}


def worker_status(status: str, text: str) -> dict[str, str]:
    return {"status": status, "message": text}


def task_id(connector: str, task: int) -> dict[str, Any]:
    return {"connector": connector, "task": task}


def connector_info(name: str, config: Mapping[str, str], tasks: int, type_: str) -> dict[str, Any]:
    return {
        "name": name,
        "config": dict(config),
        "tasks": [task_id(name, i) for i in range(tasks)],
        "type": type_,
    }


def state_entry(state: str, worker_id: str, trace: str | None) -> dict[str, Any]:
    """Kafka's AbstractState: ``trace`` only when there is one."""
    out: dict[str, Any] = {"state": state, "worker_id": worker_id}
    if trace:
        out["trace"] = trace
    return out


def task_state(task: int, state: str, worker_id: str, trace: str | None) -> dict[str, Any]:
    return {"id": task, **state_entry(state, worker_id, trace)}


def connector_state_info(
    name: str, connector: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]], type_: str
) -> dict[str, Any]:
    return {
        "name": name,
        "connector": dict(connector),
        "tasks": sorted((dict(t) for t in tasks), key=lambda t: t["id"]),
        "type": type_,
    }


def task_info(connector: str, task: int, config: Mapping[str, str]) -> dict[str, Any]:
    return {"id": task_id(connector, task), "config": dict(config)}


def tasks_config(connector: str, configs: Iterable[Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The deprecated ``tasks-config`` shape: ``"<connector>-<n>"`` → task config."""
    return {f"{connector}-{i}": dict(c) for i, c in enumerate(configs)}


def active_topics(connector: str, topics: Iterable[str]) -> dict[str, Any]:
    return {connector: {"topics": sorted(topics)}}


def connector_offsets(entries: Iterable[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> dict[str, Any]:
    return {
        "offsets": [
            {"partition": dict(partition), "offset": None if offset is None else dict(offset)}
            for partition, offset in entries
        ]
    }


def message(text: str) -> dict[str, str]:
    return {"message": text}


# --- JSON Schemas (OpenAPI 3.1 is JSON Schema 2020-12) ------------------------------------------
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_STATE = {"type": "string", "enum": ["UNASSIGNED", "RUNNING", "PAUSED", "STOPPED", "FAILED", "RESTARTING"]}
_TYPE = {"type": "string", "enum": ["source", "sink", "unknown"]}
_ANY_MAP = {"type": "object", "additionalProperties": True}


def _obj(required_fields: list[str], /, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required_fields, "properties": props}


_REF = "#/components/schemas/"
SCHEMAS: dict[str, dict[str, Any]] = {
    "ErrorMessage": _obj(["error_code", "message"], error_code={"type": "integer"}, message={"type": "string"}),
    "ServerInfo": _obj(
        ["version", "commit", "kafka_cluster_id"],
        version={"type": "string"}, commit={"type": "string"}, kafka_cluster_id={"type": "string"},
        kafka_broker={"type": "string"}, kafka_storage={"type": "string"},
    ),
    "WorkerStatus": _obj(
        ["status", "message"],
        status={"type": "string", "enum": ["healthy", "starting", "unhealthy"]}, message={"type": "string"},
    ),
    "ConnectorConfig": _STRING_MAP,
    "ConnectorConfigPatch": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    "CreateConnectorRequest": {
        **_obj(
            ["name", "config"],
            name={"type": "string"},
            config={"$ref": _REF + "ConnectorConfig"},
            initial_state={"type": "string", "enum": ["RUNNING", "PAUSED", "STOPPED"],
                           "description": "Case-insensitive (KIP-980)."},
        ),
        "additionalProperties": False,
    },
    "ConnectorTaskId": _obj(["connector", "task"], connector={"type": "string"}, task={"type": "integer"}),
    "ConnectorInfo": _obj(
        ["name", "config", "tasks", "type"],
        name={"type": "string"},
        config={"$ref": _REF + "ConnectorConfig"},
        tasks={"type": "array", "items": {"$ref": _REF + "ConnectorTaskId"}},
        type=_TYPE,
    ),
    "ConnectorState": _obj(
        ["state", "worker_id"], state=_STATE, worker_id={"type": "string"}, trace={"type": "string"}
    ),
    "TaskState": _obj(
        ["id", "state", "worker_id"],
        id={"type": "integer"}, state=_STATE, worker_id={"type": "string"}, trace={"type": "string"},
    ),
    "ConnectorStateInfo": _obj(
        ["name", "connector", "tasks", "type"],
        name={"type": "string"},
        connector={"$ref": _REF + "ConnectorState"},
        tasks={"type": "array", "items": {"$ref": _REF + "TaskState"}},
        type=_TYPE,
        lambda_connect={"type": "object", "description": "lambda-connect extension (lambda-connect up): the tasks' "
                        "metric totals under their EMF names and, for sinks, consumer lag per partition."},
    ),
    "ConnectorExpanded": {
        "type": "object",
        "properties": {"status": {"$ref": _REF + "ConnectorStateInfo"}, "info": {"$ref": _REF + "ConnectorInfo"}},
    },
    "TaskInfo": _obj(
        ["id", "config"], id={"$ref": _REF + "ConnectorTaskId"}, config={"$ref": _REF + "ConnectorConfig"}
    ),
    "TasksConfig": {"type": "object", "additionalProperties": {"$ref": _REF + "ConnectorConfig"}},
    "ActiveTopicsInfo": {
        "type": "object",
        "additionalProperties": _obj(["topics"], topics={"type": "array", "items": {"type": "string"}}),
    },
    "ConnectorOffset": _obj(["partition", "offset"], partition=_ANY_MAP, offset={"type": ["object", "null"]}),
    "ConnectorOffsets": {
        **_obj(["offsets"], offsets={"type": "array", "items": {"$ref": _REF + "ConnectorOffset"}}),
        "additionalProperties": False,
    },
    "Message": _obj(["message"], message={"type": "string"}),
    "DlqEntry": _obj(
        ["topic", "partition", "offset", "stage", "error_class", "message", "key", "value", "dlq_partition",
         "dlq_offset"],
        topic={"type": ["string", "null"]}, partition={"type": ["integer", "null"]},
        offset={"type": ["integer", "null"]}, stage={"type": ["string", "null"]},
        error_class={"type": ["string", "null"]}, message={"type": ["string", "null"]},
        key={"type": ["string", "null"]}, value={"type": ["string", "null"]},
        dlq_partition={"type": "integer"}, dlq_offset={"type": "integer"},
    ),
    "LocalEnvironment": _obj(
        ["environment", "notes"],
        environment={**_STRING_MAP, "description": "LAMBDA_CONNECT_* variables the task functions of this "
                     "lambda-connect up run with (state table, Kafka cluster, secrets)."},
        notes={"type": "array", "items": {"type": "string"},
               "description": "What was left out and why (e.g. a password in the state URL)."},
    ),
    "DlqList": _obj(
        ["connector", "dlq_topic", "total", "replay_group", "replay_positions", "entries"],
        connector={"type": "string"}, dlq_topic={"type": "string"}, total={"type": "integer"},
        replay_group={"type": "string"},
        replay_positions={"type": "object", "additionalProperties": {"type": "integer"}},
        entries={"type": "array", "items": {"$ref": _REF + "DlqEntry"}},
    ),
    "DlqReplayRequest": {
        "type": "object",
        "properties": {
            "to_topic": {"type": "string", "minLength": 1,
                         "description": "Replay here instead of the original topics."},
            "dry_run": {"type": "boolean", "default": False, "description": "Count and list, produce nothing."},
            "filter": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
                       "description": "FIELD=VALUE or FIELD~TEXT, as for the list; records not matching stay pending."},
        },
        "additionalProperties": False,
    },
    "DlqReplayResult": _obj(
        ["connector", "dlq_topic", "group", "dry_run", "replayed", "already_replayed", "skipped"],
        connector={"type": "string"}, dlq_topic={"type": "string"}, group={"type": "string"},
        dry_run={"type": "boolean"}, replayed={"type": "integer"}, already_replayed={"type": "integer"},
        skipped={"type": "integer"}, entries={"type": "array", "items": {"$ref": _REF + "DlqEntry"}},
    ),
    "LoggerLevel": _obj(["level", "last_modified"],
                        level={"type": "string", "enum": ["OFF", "FATAL", "ERROR", "WARN", "INFO", "DEBUG",
                                                          "TRACE", "ALL"]},
                        last_modified={"type": ["integer", "null"]}),
    "LoggerLevels": {"type": "object", "additionalProperties": {"$ref": _REF + "LoggerLevel"}},
    "LoggerLevelRequest": _obj(["level"], level={"type": "string"}),
    "AffectedLoggers": {"type": "array", "items": {"type": "string"}},
    "PluginInfo": _obj(
        ["class", "type"],
        **{
            "class": {"type": "string"},
            "type": {"type": "string", "enum": ["source", "sink", "converter", "header_converter",
                                                "transformation", "predicate"]},
            "version": {"type": "string"},
        },
    ),
    "ConfigKeyInfo": _obj(
        ["name", "type", "required", "default_value", "importance", "documentation", "group", "order", "width",
         "display_name", "dependents"],
        name={"type": "string"},
        type={"type": "string"},
        required={"type": "boolean"},
        default_value={"type": ["string", "null"]},
        importance={"type": "string", "enum": ["HIGH", "MEDIUM", "LOW"]},
        documentation={"type": ["string", "null"]},
        group={"type": ["string", "null"]},
        order={"type": "integer"},
        width={"type": "string", "enum": ["NONE", "SHORT", "MEDIUM", "LONG"]},
        display_name={"type": "string"},
        dependents={"type": "array", "items": {"type": "string"}},
    ),
    "ConfigValueInfo": _obj(
        ["name", "value", "recommended_values", "errors", "visible"],
        name={"type": "string"},
        value={"type": ["string", "null"]},
        recommended_values={"type": "array", "items": {"type": "string"}},
        errors={"type": "array", "items": {"type": "string"}},
        visible={"type": "boolean"},
    ),
    "ConfigInfo": _obj(
        ["definition", "value"],
        definition={"oneOf": [{"$ref": _REF + "ConfigKeyInfo"}, {"type": "null"}]},
        value={"oneOf": [{"$ref": _REF + "ConfigValueInfo"}, {"type": "null"}]},
    ),
    "ConfigInfos": _obj(
        ["name", "error_count", "groups", "configs"],
        name={"type": ["string", "null"]},
        error_count={"type": "integer"},
        groups={"type": "array", "items": {"type": "string"}},
        configs={"type": "array", "items": {"$ref": _REF + "ConfigInfo"}},
    ),
}
