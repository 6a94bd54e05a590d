"""Request bodies: JSON parsing and the shape checks Kafka Connect's Jackson binding does.

Kafka Connect answers a body it cannot bind (not JSON, wrong shape, an unknown field of a
typed request) with a 500, as if the server had failed. Here every such body is the client's
mistake and gets a 400 whose message says what was wrong (see "Differences" in the README).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from .errors import BadRequest

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_NESTING_DEPTH",
    "NULL_VALUE_ERROR",
    "check_connector_name",
    "config_map",
    "config_with_nulls",
    "json_body",
    "nesting_depth",
    "null_value_infos",
    "offsets_entries",
    "patch_map",
    "scalar_string",
    "sink_offsets_body",
    "source_offsets_body",
]

#: Longest accepted connector name: it becomes part of state-table keys, consumer group ids
#: (≤ 200 characters for Lambda's Kafka event source mappings, with the ``connect-`` prefix)
#: and function alias names.
MAX_NAME_LENGTH = 180


#: Deepest nesting of objects/arrays a request body may have. Connector configs are flat and
#: source offsets a level or two deep; the bound keeps the parser and everything that walks a
#: stored value (serialisers, the state table) far from Python's recursion limit.
MAX_NESTING_DEPTH = 64


def _too_deep() -> BadRequest:
    return BadRequest(f"Request body nests JSON objects/arrays deeper than the limit of {MAX_NESTING_DEPTH} levels")


def nesting_depth(value: Any) -> int:
    """How many object/array levels ``value`` has, counted without recursion (a hostile value
    must not be able to exhaust the stack of the code that measures it)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body(body: bytes) -> Any:
    """Parse a request body: missing, not JSON, or JSON nested beyond :data:`MAX_NESTING_DEPTH`
    is a 400 -- the deep case refused whether the parser survives it or gives up with a
    ``RecursionError``."""
    if not body or not body.strip():
        raise BadRequest("Request body is missing: a JSON document is required")
    try:
        value = json.loads(body)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"Request body is not valid JSON: {e}") from e
    if nesting_depth(value) > MAX_NESTING_DEPTH:
        raise _too_deep()
    return value


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _require_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, got {_type_name(value)}")
    return value


def _string_value(key: str, value: Any, *, allow_null: bool) -> str | None:
    """Jackson's Map<String, String> binding: strings as is, numbers/booleans coerced,
    nested objects and arrays refused."""
    if isinstance(value, str):
        return value
    if value is None:
        if allow_null:
            return None
        raise BadRequest(f"The value of '{key}' is null: give a string, or leave the key out")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise BadRequest(f"Configuration value of '{key}' must be a string, got {_type_name(value)}")


def config_map(value: Any, what: str = "Connector configuration") -> dict[str, str]:
    """A flat string → string connector config."""
    obj = _require_object(value, what)
    return {str(k): _string_value(k, v, allow_null=False) or "" for k, v in obj.items()}


#: Kafka's error for a config key whose JSON value is null (reported per key, definition null).
NULL_VALUE_ERROR = "A config value may not be null: give a string, or leave the key out"


def config_with_nulls(value: Any, what: str = "Connector configuration") -> tuple[dict[str, str], list[str]]:
    """A flat config and the keys whose JSON value was null: Kafka binds those (Jackson allows
    nulls in a ``Map<String, String>``) and lets validation report them, so create answers 400
    with the error listed and validate answers 200 with it inside."""
    obj = _require_object(value, what)
    nulls = [str(k) for k, v in obj.items() if v is None]
    config = {str(k): _string_value(k, v, allow_null=False) or "" for k, v in obj.items() if v is not None}
    return config, nulls


def null_value_infos(infos: dict[str, Any], null_keys: list[str]) -> dict[str, Any]:
    """ConfigInfos with one ``definition: null`` entry per null-valued key, as Kafka reports them."""
    if not null_keys:
        return infos
    nulls = set(null_keys)
    configs = [c for c in infos["configs"] if (c.get("value") or {}).get("name") not in nulls]
    configs += [
        {"definition": None,
         "value": {"name": k, "value": None, "recommended_values": [], "errors": [NULL_VALUE_ERROR], "visible": True}}
        for k in null_keys
    ]
    errors = sum(len((c.get("value") or {}).get("errors") or []) for c in configs)
    return {**infos, "error_count": errors, "configs": configs}


def scalar_string(value: Any, what: str) -> str | None:
    """Jackson's coercion for a ``String`` field: numbers and booleans become their text,
    objects and arrays cannot be bound (400)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    raise BadRequest(f"{what} must be a JSON string, got {_type_name(value)}")


def patch_map(value: Any) -> dict[str, str | None]:
    """A KIP-477 merge patch: JSON null removes the key."""
    obj = _require_object(value, "Connector configuration patch")
    return {str(k): _string_value(k, v, allow_null=True) for k, v in obj.items()}


def check_connector_name(name: str) -> None:
    """Names travel in URLs, state-table keys and AWS resource names; refuse the ones that
    cannot (Kafka's own rules — non-empty, no control characters — are checked by validation)."""
    if "/" in name:
        raise BadRequest(f"Connector name {name!r} is invalid: it may not contain '/'")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(
            f"Connector name is too long ({len(name)} characters): the maximum is {MAX_NAME_LENGTH}"
        )
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise BadRequest("Connector name may not contain control characters")


def offsets_entries(value: Any) -> list[dict[str, Any]]:
    """The ``offsets`` array of an alter request (Kafka checks it before the connector state)."""
    obj = _require_object(value, "Offsets request")
    unknown = sorted(set(obj) - {"offsets"})
    if unknown:
        raise BadRequest(f'Unrecognized field "{unknown[0]}" (known properties: "offsets")')
    offsets = obj.get("offsets")
    if offsets is None or (isinstance(offsets, list) and not offsets):
        raise BadRequest("An alter-offsets request must list at least one partition with its offset")
    if not isinstance(offsets, list):
        raise BadRequest(f"'offsets' must be a JSON array, got {_type_name(offsets)}")
    out = []
    for entry in offsets:
        item = _require_object(entry, "Each element of 'offsets'")
        extra = sorted(set(item) - {"partition", "offset"})
        if extra:
            raise BadRequest(f'Unrecognized field "{extra[0]}" (known properties: "partition", "offset")')
        out.append(item)
    return out


def _integer(value: Any) -> int | None:
    """Kafka accepts integers and their string forms (``"10"``) for sink partitions/offsets."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def sink_offsets_body(entries: list[dict[str, Any]]) -> list[tuple[str, int, int | None]]:
    """(topic, partition, offset|None) from a sink offsets PATCH, with Kafka's 400 messages."""
    out: list[tuple[str, int, int | None]] = []
    for item in entries:
        partition, offset = item.get("partition"), item.get("offset")
        if not isinstance(partition, dict):
            raise BadRequest("Each sink connector offset needs a partition object (kafka_topic, kafka_partition)")
        if "kafka_topic" not in partition or "kafka_partition" not in partition:
            raise BadRequest(
                "The partition for a sink connector offset must contain the keys 'kafka_topic' and 'kafka_partition'"
            )
        topic = partition["kafka_topic"]
        if not isinstance(topic, str) or not topic:
            raise BadRequest("Kafka topic names must be valid strings for sink connector offsets")
        number = _integer(partition["kafka_partition"])
        if number is None:
            raise BadRequest(
                f"kafka_partition '{partition['kafka_partition']}' in the offsets is not an integer: "
                "a sink connector's partitions are whole numbers"
            )
        if offset is None:
            out.append((topic, number, None))
            continue
        if not isinstance(offset, dict) or "kafka_offset" not in offset:
            raise BadRequest("The offset for a sink connector should either be null or contain the key 'kafka_offset'")
        position = _integer(offset["kafka_offset"])
        if position is None:
            raise BadRequest(
                f"kafka_offset '{offset['kafka_offset']}' in the offsets is not an integer: a sink connector's "
                "offsets are whole numbers"
            )
        if position < 0:
            raise BadRequest(f"Kafka offsets must be non-negative, got {position}")
        out.append((topic, number, position))
    return out


def source_offsets_body(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(partition, offset|None) from a source offsets PATCH."""
    out: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for item in entries:
        partition, offset = item.get("partition"), item.get("offset")
        if not isinstance(partition, dict):
            raise BadRequest("Each source connector offset needs a partition object")
        if offset is not None and not isinstance(offset, dict):
            raise BadRequest("The offset for a source connector should either be null or a JSON object")
        out.append((partition, offset))
    return out
