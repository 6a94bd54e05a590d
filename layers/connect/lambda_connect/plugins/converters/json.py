"""JsonConverter: Kafka's ``org.apache.kafka.connect.json.JsonConverter``.

With ``schemas.enable=true`` every message is the envelope ``{"schema": ..., "payload": ...}``;
with ``false`` the message is the bare JSON value. Most sinks read schemaless JSON, so that
path is one ``orjson.loads`` / ``orjson.dumps`` per record; the schema-driven paths compile
each schema once into converter closures and keep them in an LRU of ``schemas.cache.size``.
"""

from __future__ import annotations

import base64
import functools
import json
from collections import OrderedDict
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any, Generic, TypeVar

import orjson

from lambda_connect.api.config import CaseInsensitiveValidString, Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.data import Schema, SchemaAndValue, Type
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers

from . import _json_text
from ._json_batch import StructColumns, all_structs_of
from ._json_codec import Codec, contains_decimal, java_class, schemaless_to_json

__all__ = ["JsonConverter"]

SCHEMAS_ENABLE_CONFIG = "schemas.enable"
SCHEMAS_CACHE_SIZE_CONFIG = "schemas.cache.size"
DECIMAL_FORMAT_CONFIG = "decimal.format"
REPLACE_NULL_WITH_DEFAULT_CONFIG = "replace.null.with.default"

def envelope_error(is_key: bool) -> str:
    """The message for bytes that lack the schema envelope: it names the exact key to change."""
    key = "key.converter.schemas.enable" if is_key else "value.converter.schemas.enable"
    return (
        'This JsonConverter expects each message to be an object of exactly two fields, "schema" and "payload", '
        f"because schemas.enable is true (the default). For plain JSON messages set {key}=false in the "
        "connector config."
    )


ENVELOPE_ERROR = envelope_error(False)
SERIALIZE_ERROR = "JsonConverter could not write this value as JSON: "
DESERIALIZE_ERROR = "JsonConverter could not read these bytes as JSON: "
_ENVELOPE_KEYS = frozenset(("schema", "payload"))
_SCHEMA_KEY = b'{"schema":'
_SCHEMA_KEY_LEN = len(_SCHEMA_KEY)
_PAYLOAD_KEY = b',"payload":'
_FAST_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A small LRU map; losing entries only costs recompilation."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[K, V] = OrderedDict()
        self._size = size

    def get(self, key: K) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        if self._size <= 0:
            return value
        self._data[key] = value
        if len(self._data) > self._size:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class _Outgoing:
    """What serialising with one schema needs: its rendered JSON and the value converter."""

    __slots__ = ("convert", "schema_json")

    def __init__(self, schema_json: bytes, convert: Callable[[Any], Any]) -> None:
        self.schema_json = schema_json
        self.convert = convert


class _Incoming:
    """What reading with one schema JSON needs: the Connect schema and the value converter."""

    __slots__ = ("convert", "exact", "schema")

    def __init__(self, schema: Schema | None, convert: Callable[[Any], Any] | None, exact: bool) -> None:
        self.schema = schema
        self.convert = convert
        self.exact = exact


def _fast_default(obj: Any) -> Any:
    """orjson ``default`` for schemaless values: bytes become base64 as in Kafka; any other
    type is left to the checked conversion, which raises Kafka's error for it."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(obj).decode("ascii")
    raise TypeError(java_class(obj))


class JsonConverter(Converter, HeaderConverter):
    """Convert between Connect data and JSON, optionally with the schema embedded in each message.

    Usable for keys, values and headers (``header.converter``); a header value is encoded
    exactly like a message value.
    """

    name = "org.apache.kafka.connect.json.JsonConverter"
    config_def = ConfigDef(
        ConfigKey(
            name=SCHEMAS_ENABLE_CONFIG,
            type=ConfigType.BOOLEAN,
            default="true",
            importance=Importance.HIGH,
            doc="Wrap each key and value in a {\"schema\": ..., \"payload\": ...} envelope; expect one on read.",
            group="Schemas",
            display_name="Enable Schemas",
        ),
        ConfigKey(
            name=SCHEMAS_CACHE_SIZE_CONFIG,
            type=ConfigType.INT,
            default="1000",
            importance=Importance.HIGH,
            doc="How many parsed schemas one converter keeps for reuse.",
            group="Schemas",
            display_name="Schema Cache Size",
        ),
        ConfigKey(
            name=DECIMAL_FORMAT_CONFIG,
            type=ConfigType.STRING,
            default="BASE64",
            validator=CaseInsensitiveValidString("BASE64", "NUMERIC"),
            importance=Importance.LOW,
            doc="How Decimal values are written: BASE64 (the unscaled bytes, base64 text) or NUMERIC (a JSON number); "
            "any letter case.",
            group="Serialization",
            display_name="Decimal Format",
        ),
        ConfigKey(
            name=REPLACE_NULL_WITH_DEFAULT_CONFIG,
            type=ConfigType.BOOLEAN,
            default="true",
            importance=Importance.LOW,
            doc="A null field whose schema declares a default: true writes the default, false keeps the null.",
            group="Serialization",
            display_name="Replace null with default",
        ),
    )

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        Converter.__init__(self, config, is_key=is_key)
        self.schemas_enabled: bool = config[SCHEMAS_ENABLE_CONFIG]
        self.codec = Codec(
            decimal_numeric=str(config[DECIMAL_FORMAT_CONFIG]).upper() == "NUMERIC",
            replace_null_with_default=config[REPLACE_NULL_WITH_DEFAULT_CONFIG],
        )
        size = config[SCHEMAS_CACHE_SIZE_CONFIG]
        self._outgoing: _Lru[Schema, _Outgoing] = _Lru(size)
        self._incoming: _Lru[bytes, _Incoming] = _Lru(size)
        # Schema objects are compared by identity first: ``==`` on a struct schema walks it
        # (microseconds), while a source hands the same object to every record of a poll.
        self._by_identity: _Lru[int, tuple[Schema, _Outgoing]] = _Lru(size)
        self._last_out: tuple[Schema | None, _Outgoing | None] = (None, None)
        # Envelope prefixes ``{"schema":<schema json>,"payload":`` seen in messages, so a known
        # schema is recognised by comparing bytes instead of parsing and re-serialising it.
        self._prefixes: _Lru[bytes, _Incoming] = _Lru(size)
        self._last_in: tuple[bytes, _Incoming] | None = None
        self._batch_writers: _Lru[int, tuple[Schema, Callable[[Sequence[Any]], list[bytes | None]]]] = _Lru(size)
        self._column_writers: _Lru[int, tuple[Schema, Callable[[Sequence[Any]], list[bytes | None]]]] = _Lru(size)

    # --- Connect -> bytes -------------------------------------------------------------------
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if schema is None and value is None:
            return None
        if schema is None:
            payload = self._dump_schemaless(value)
            return b'{"schema":null,"payload":' + payload + b"}" if self.schemas_enabled else payload
        last_schema, out = self._last_out
        if schema is not last_schema or out is None:
            out = self._outgoing_for(schema)
        try:
            tree = out.convert(value)
            try:
                payload = orjson.dumps(tree, default=_json_text.dump_default)
            except TypeError:  # big integers, deep trees: the careful path
                payload = _json_text.dumps(tree)
        except TypeError as e:
            raise DataException(SERIALIZE_ERROR + str(e)) from e
        if self.schemas_enabled:
            return b'{"schema":' + out.schema_json + b',"payload":' + payload + b"}"
        return payload

    def _dump_schemaless(self, value: Any) -> bytes:
        try:
            return orjson.dumps(value, default=_fast_default, option=_FAST_OPTIONS)
        except TypeError:
            pass
        tree = schemaless_to_json(value)  # raises Kafka's DataException for unsupported types
        try:
            return _json_text.dumps(tree)
        except (TypeError, RecursionError) as e:
            raise DataException(SERIALIZE_ERROR + str(e)) from e

    def _outgoing_for(self, schema: Schema) -> _Outgoing:
        last_schema, last = self._last_out
        if schema is last_schema and last is not None:
            return last
        hit = self._by_identity.get(id(schema))
        if hit is not None and hit[0] is schema:
            out = hit[1]
        else:
            # Converters are compiled per schema *object*: their struct checks are identity
            # checks first. The rendered schema JSON is shared by equal schemas.
            equal = self._outgoing.get(schema)
            if equal is None:
                schema_json = _json_text.dumps(self.codec.schema_to_json(schema))
                out = self._outgoing.put(schema, _Outgoing(schema_json, self.codec.to_json(schema)))
            else:
                out = _Outgoing(equal.schema_json, self.codec.to_json(schema))
            self._by_identity.put(id(schema), (schema, out))
        self._last_out = (schema, out)
        return out

    # --- direct paths for the runtime -------------------------------------------------------
    def direct_reader(self) -> tuple[Schema | None, Callable[[bytes | None], Any]] | None:
        """With schemas off, reading is a bare ``orjson.loads`` whose result has no schema.

        Returns the schema every read has and a function from message bytes to the value.
        The function may raise for input it does not take (leniently parsed or invalid
        JSON); the runtime then calls ``to_connect_data``, which handles or reports it."""
        if self.schemas_enabled or type(self).to_connect_data is not JsonConverter.to_connect_data:
            return None
        return None, orjson.loads  # None and b"" raise here; to_connect_data reads them as null

    def direct_writer(self) -> tuple[Schema | None, Callable[[Any], bytes]] | None:
        """With schemas off, writing a non-null schemaless value is a bare ``orjson.dumps``.

        Returns the schema the function is for (a record schema that *is* it) and a function
        from a non-null value to bytes. It may raise for values it does not take (non-string
        map keys, integers beyond 64 bits, other types); the runtime then calls
        ``from_connect_data``, which handles or reports them."""
        if self.schemas_enabled or type(self).from_connect_data is not JsonConverter.from_connect_data:
            return None
        return None, functools.partial(orjson.dumps, default=_fast_default, option=_FAST_OPTIONS)

    def batch_writer(self, schema: Schema | None) -> Callable[[Sequence[Any]], list[bytes | None]] | None:
        """Writing many values of one schema at once: the source runtime's batch path.

        Returns a function from a list of values whose record schema *is* ``schema`` to their
        bytes, equal to ``from_connect_data`` of each (the output does not depend on topic or
        headers). Struct batches are converted a column at a time (``_json_batch``); it raises
        for any batch it does not take whole (a value of another type or schema object, an
        integer beyond 64 bits, a failing field), and the runtime then converts record by
        record, which reports the failing record. None for subclasses that write otherwise."""
        if type(self).from_connect_data is not JsonConverter.from_connect_data:
            return None
        if schema is None:
            return self._schemaless_batch
        hit = self._batch_writers.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        out = self._outgoing_for(schema)
        columns = StructColumns(self.codec, schema) if schema.type is Type.STRUCT else None
        prefix = b'{"schema":' + out.schema_json + b',"payload":' if self.schemas_enabled else None
        convert, dumps, default = out.convert, orjson.dumps, _json_text.dump_default

        def write(values: Sequence[Any]) -> list[bytes | None]:
            if columns is not None and all_structs_of(schema, values):
                trees: list[Any] = columns.trees(values)
            else:
                trees = list(map(convert, values))
            payloads = list(map(dumps, trees, repeat(default)))
            if prefix is None:
                return payloads  # type: ignore[return-value]
            return list(map(b"".join, zip(repeat(prefix), payloads, repeat(b"}"))))

        self._batch_writers.put(id(schema), (schema, write))
        return write

    def columns_writer(self, schema: Schema) -> Callable[[Sequence[Any]], list[bytes | None]] | None:
        """Writing values of a STRUCT schema handed over by column (``api.columns.StructColumn``).

        Returns a function from the struct's field columns (``StructColumn.columns`` of a column
        whose schema *is* ``schema`` and that holds a struct in every row) to the bytes
        ``from_connect_data`` writes for each row's Struct — the Structs themselves are never
        built. It raises for any batch it does not take whole, as ``batch_writer``'s function
        does; the runtime then builds the records and converts them one by one. None for
        schemas other than STRUCT and for subclasses that write otherwise."""
        if type(self).from_connect_data is not JsonConverter.from_connect_data or schema.type is not Type.STRUCT:
            return None
        hit = self._column_writers.get(id(schema))
        if hit is not None and hit[0] is schema:
            return hit[1]
        out = self._outgoing_for(schema)
        columns = StructColumns(self.codec, schema)
        prefix = b'{"schema":' + out.schema_json + b',"payload":' if self.schemas_enabled else None
        dumps, default = orjson.dumps, _json_text.dump_default

        def write(field_columns: Sequence[Any]) -> list[bytes | None]:
            payloads = list(map(dumps, columns.trees_from_columns(field_columns), repeat(default)))
            if prefix is None:
                return payloads  # type: ignore[return-value]
            return list(map(b"".join, zip(repeat(prefix), payloads, repeat(b"}"))))

        self._column_writers.put(id(schema), (schema, write))
        return write

    def _schemaless_batch(self, values: Sequence[Any]) -> list[bytes | None]:
        """``batch_writer(None)``: nulls stay null, the rest is one fast ``orjson`` call each."""
        dumps, default, option = orjson.dumps, _fast_default, _FAST_OPTIONS
        payloads = [None if v is None else dumps(v, default, option) for v in values]
        if not self.schemas_enabled:
            return payloads
        return [None if p is None else b'{"schema":null,"payload":' + p + b"}" for p in payloads]

    # --- bytes -> Connect -------------------------------------------------------------------
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        if not self.schemas_enabled:
            if not data:
                return SchemaAndValue(None, None)
            return SchemaAndValue(None, self._parse(data))
        known = self._known_envelope(data)
        if known is not None:
            return known
        envelope = self._parse(data) if data else None
        if not isinstance(envelope, dict) or len(envelope) != 2 or envelope.keys() != _ENVELOPE_KEYS:
            raise DataException(envelope_error(self.is_key))
        schema_node = envelope["schema"]
        if schema_node is None:
            return SchemaAndValue(None, envelope["payload"])
        incoming = self._incoming_for(schema_node)
        assert incoming.convert is not None
        payload = envelope["payload"]
        if incoming.exact:
            payload = _json_text.loads_exact(bytes(data))["payload"]
        else:
            self._learn_prefix(data, schema_node, incoming)
        return SchemaAndValue(incoming.schema, incoming.convert(payload))

    def _known_envelope(self, data: Any) -> SchemaAndValue | None:
        """Read ``{"schema":S,"payload":P}`` whose ``S`` is byte-for-byte one seen before by
        parsing only ``P``. Sound because ``S`` is a complete JSON value and orjson accepts ``P``
        only if it is exactly one JSON value: the message is then precisely that envelope.
        Anything else (whitespace, other key order, lenient numbers) returns None and takes the
        full path."""
        if type(data) is not bytes or data[-1:] != b"}":
            return None
        last = self._last_in
        if last is not None and data.startswith(last[0]):
            prefix, incoming = last
        else:
            end = data.find(_PAYLOAD_KEY, _SCHEMA_KEY_LEN)
            if end < 0 or not data.startswith(_SCHEMA_KEY):
                return None
            prefix = data[: end + len(_PAYLOAD_KEY)]
            found = self._prefixes.get(prefix)
            if found is None:
                return None
            incoming = found
            self._last_in = (prefix, incoming)
        try:
            payload = orjson.loads(memoryview(data)[len(prefix) : -1])
        except orjson.JSONDecodeError:
            return None
        assert incoming.convert is not None
        return SchemaAndValue(incoming.schema, incoming.convert(payload))

    def _learn_prefix(self, data: bytes, schema_node: Any, incoming: _Incoming) -> None:
        """Remember this message's envelope prefix if it is the compact rendering of its schema
        (Kafka's and this converter's output are). Decimal schemas are never learnt: they
        need the exact-number parse of the whole message."""
        if type(data) is not bytes:
            return
        try:
            prefix = _SCHEMA_KEY + orjson.dumps(schema_node) + _PAYLOAD_KEY
        except TypeError:
            return
        if data.startswith(prefix):
            self._prefixes.put(prefix, incoming)
            self._last_in = (prefix, incoming)

    @staticmethod
    def _parse(data: bytes) -> Any:
        try:
            return _json_text.loads(data)
        except (ValueError, RecursionError) as e:
            raise DataException(DESERIALIZE_ERROR + str(e)) from e

    def _incoming_for(self, schema_node: Any) -> _Incoming:
        try:
            key = orjson.dumps(schema_node, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # deeper than orjson's 255 levels
            key = json.dumps(schema_node, sort_keys=True, separators=(",", ":")).encode()
        cached = self._incoming.get(key)
        if cached is None:
            schema = self.codec.schema_from_json(schema_node)
            assert schema is not None
            cached = self._incoming.put(key, _Incoming(schema, self.codec.to_connect(schema), contains_decimal(schema)))
        return cached

    # --- headers ----------------------------------------------------------------------------
    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, data: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, data)

    def close(self) -> None:
        """Nothing to release: the converter holds only caches."""
