"""``lambda-connect transform``: run records through a connector's converters and SMTs.

The real path, nothing simulated: each input record is deserialised by the configured
key/value/header converters, passed through the transform chain (with its predicates),
and serialised again by the same converters — what a sink task sees before ``put`` and
what a source task would produce. Record format: see ``lambda_connect.cli._records``.

Lines are read in chunks; the consumed (sink-side) records of a chunk go through
``BatchPipeline``, whose generated loop takes schemaless JSON through plan-offering SMTs
without building records, and whose outcomes are the per-record path's by construction.
Source-side replays (offset null) and unreadable lines are handled one by one, in place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any

import orjson

from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.batch_pipeline import BatchPipeline, ConsumedTuple, Outcome
from lambda_connect.runtime.chain import TransformChain
from lambda_connect.runtime.config_providers import resolve_config
from lambda_connect.runtime.conversion import RecordConverters
from lambda_connect.runtime.errors import ErrorPolicy, Stage, StageError
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.validation import config_errors, validate_connector_config

from . import _records
from ._config import load_connector_config, print_config_errors

__all__ = ["RecordPipeline", "register", "run"]

HELP = """\
CONFIG is a connector config: a flat JSON string map, {"name": ..., "config": {...}}, or a
.properties file. Input is JSON lines, one record each:
  {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}
key/value hold the message content as JSON (for schema'd JSON the {"schema","payload"}
envelope); the converter receives its JSON serialization, except that a JSON string given
to a String or ByteArray converter is the message text itself; null means no bytes (a
tombstone). headers is a list of [name, value]; a header value is given to the header
converter the same way (a JSON string given to SimpleHeaderConverter or StringConverter is
the header text itself). offset null replays the record as a source record.

Output is one JSON line per input line, in order: the resulting record in the same shape
(converter output parsed as JSON for the JsonConverter, as text for String, base64
otherwise; SimpleHeaderConverter headers as the value it reads back),
{"offset": n, "dropped": true} when filtered, or {"offset": n, "error": {"stage",
"class", "message"}} when that record fails. A bad record never stops the others.
Exit status: 0; 1 when a record failed and errors.tolerance is none; 2 for an invalid
config (one line per bad key on stderr).
"""


class RecordPipeline:
    """Converters + chain of one connector config, applied to input lines."""

    #: Lines read before the consumed records among them run as one batch.
    CHUNK = 512

    def __init__(self, converters: RecordConverters, chain: TransformChain) -> None:
        self.converters = converters
        self.chain = chain
        self.batch = BatchPipeline(converters, chain)

    @classmethod
    def from_config(cls, props: Mapping[str, str], registry: Registry | None = None) -> RecordPipeline:
        """Validate (connector-less configs check only the pipeline keys) and build;
        raises one ConfigException naming every bad key."""
        registry = registry or Registry.default()
        props = resolve_config(props)
        infos = validate_connector_config(props, registry, pipeline_only=True)
        errors = config_errors(infos)
        if errors:
            raise ConfigException(errors=errors)
        policy = ErrorPolicy.from_config(props)
        converters = RecordConverters.from_config(props, registry, policy)
        chain = TransformChain.from_config(props, registry, policy)
        return cls(converters, chain)

    def process(self, line: str | bytes) -> dict[str, Any]:
        """One output object for one input line; never raises for bad data."""
        parsed = self._parse(line)
        if isinstance(parsed, dict):
            return parsed
        if isinstance(parsed, _SourceReplay):
            return self._replay_source(parsed)
        return self._format(parsed[2], self._one(parsed))

    def run(self, lines: Iterable[str | bytes]) -> Iterator[dict[str, Any]]:
        """One output object per non-blank line, in order (module docstring)."""
        chunk: list[str | bytes] = []
        for line in lines:
            stripped = line.strip()
            if stripped:
                chunk.append(stripped)
                if len(chunk) >= self.CHUNK:
                    yield from self._run_chunk(chunk)
                    chunk = []
        if chunk:
            yield from self._run_chunk(chunk)

    def _run_chunk(self, lines: list[str | bytes]) -> Iterator[dict[str, Any]]:
        parsed = [self._parse(line) for line in lines]
        consumed = [p for p in parsed if isinstance(p, tuple)]
        outcomes = iter(self._outcomes(consumed))
        for p in parsed:
            if isinstance(p, dict):
                yield p
            elif isinstance(p, _SourceReplay):
                yield self._replay_source(p)
            else:
                yield self._format(p[2], next(outcomes))

    def _outcomes(self, consumed: list[ConsumedTuple]) -> Iterator[Outcome | Exception]:
        """The batch's outcomes; after an error outside every stage (a plugin bug), the rest
        of the chunk goes one by one so that it costs that record only."""
        done = 0
        try:
            for outcome in self.batch.run(consumed):
                done += 1
                yield outcome
        except Exception:
            for record in consumed[done:]:
                yield self._one(record)

    def _one(self, record: ConsumedTuple) -> Outcome | Exception:
        try:
            return self.batch.one(record)
        except Exception as e:  # a plugin bug outside any stage: still one bad record only
            return e

    def _parse(self, line: str | bytes) -> dict[str, Any] | _SourceReplay | ConsumedTuple:
        """An error output, a source-side replay, or the consumed record the line stands for."""
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            return _error(None, Stage.KAFKA_CONSUME.value, None, f"Input line is not valid JSON: {e}")
        if not isinstance(rec, dict):
            return _error(None, Stage.KAFKA_CONSUME.value, None, "Input line must be a JSON object")
        offset = rec.get("offset")
        try:
            topic, partition, timestamp, headers = _coordinates(rec)
        except ValueError as e:
            return _error(offset if isinstance(offset, int) else None, Stage.KAFKA_CONSUME.value, None, str(e))
        conv = self.converters
        key = _records.encode_content(rec.get("key"), conv.key_class)
        value = _records.encode_content(rec.get("value"), conv.value_class)
        raw_headers = [(name, _records.encode_header(v, conv.header_class)) for name, v in headers]
        if offset is None:
            return _SourceReplay(topic, partition, timestamp, key, value, raw_headers)
        return (topic, partition if partition is not None else 0, offset, timestamp, "CREATE_TIME", key, value,
                raw_headers)

    def _replay_source(self, replay: _SourceReplay) -> dict[str, Any]:
        conv = self.converters
        try:
            record = conv.to_source_record(replay.topic, replay.partition, replay.timestamp, replay.key,
                                           replay.value, replay.headers)
            out = self.chain.apply(record)
            if out is None:
                return {"offset": None, "dropped": True}
            k, v, hs = conv.serialize(out)
        except Exception as e:
            return self._format(None, e)
        return self._format(None, (out.topic, out.kafka_partition, out.timestamp, k, v, hs))

    def _format(self, offset: int | None, outcome: Outcome | Exception) -> dict[str, Any]:
        if outcome is None:
            return {"offset": offset, "dropped": True}
        if isinstance(outcome, StageError):
            return _error(offset, outcome.stage.value, outcome.plugin_class, outcome.message)
        if isinstance(outcome, Exception):
            return _error(offset, None, type(outcome).__name__, str(outcome))
        topic, partition, timestamp, k, v, hs = outcome
        conv = self.converters
        result: dict[str, Any] = {"topic": topic, "partition": partition}
        if offset is not None:
            result["offset"] = offset
        result["timestamp"] = timestamp
        result["key"] = _records.decode_content(k, conv.key_class)
        result["value"] = _records.decode_content(v, conv.value_class)
        result["headers"] = [
            [name, _records.decode_header(data, conv.header, conv.header_class, topic, name)] for name, data in hs
        ]
        return result

    def close(self) -> None:
        self.chain.close()
        self.converters.close()


@dataclass(frozen=True, slots=True)
class _SourceReplay:
    """An input line with offset null: replayed as a record a source task would emit."""

    topic: Any
    partition: int | None
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


def _error(offset: int | None, stage: str | None, plugin_class: str | None, message: str) -> dict[str, Any]:
    return {"offset": offset, "error": {"stage": stage, "class": plugin_class, "message": message}}


def _coordinates(rec: Mapping[str, Any]) -> tuple[Any, int | None, int | None, list[tuple[str, Any]]]:
    """Check the non-content fields; ValueError names the first bad one."""
    topic = rec.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise ValueError("'topic' must be a string")
    partition, offset, timestamp = rec.get("partition"), rec.get("offset"), rec.get("timestamp")
    for name, v in (("partition", partition), ("offset", offset), ("timestamp", timestamp)):
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
            raise ValueError(f"'{name}' must be an integer or null")
    headers_in = rec.get("headers") or []
    if not isinstance(headers_in, list):
        raise ValueError("'headers' must be a list of [name, value] pairs")
    headers: list[tuple[str, Any]] = []
    for h in headers_in:
        if not isinstance(h, list) or len(h) != 2 or not isinstance(h[0], str):
            raise ValueError("'headers' must be a list of [name, value] pairs")
        headers.append((h[0], h[1]))
    return topic, partition, timestamp, headers


def run(args: argparse.Namespace) -> int:
    try:
        props = load_connector_config(args.config)
        pipeline = RecordPipeline.from_config(props)
    except ConfigException as e:
        print_config_errors(e.errors or {"<config>": [str(e)]}, sys.stderr)
        return 2
    tolerate = ErrorPolicy.from_config(props).tolerates()
    failed = False
    with ExitStack() as stack:
        source: IO[bytes] = (
            stack.enter_context(open(args.input, "rb")) if args.input and args.input != "-" else sys.stdin.buffer
        )
        sink: IO[bytes] = (
            stack.enter_context(open(args.output, "wb")) if args.output and args.output != "-" else sys.stdout.buffer
        )
        try:
            for result in pipeline.run(source):
                failed = failed or "error" in result
                sink.write(orjson.dumps(result) + b"\n")
            sink.flush()
        finally:
            pipeline.close()
    return 1 if failed and not tolerate else 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "transform",
        help="run JSON-lines records through a connector config's converters and transforms",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, metavar="CONFIG", help="connector config (JSON or .properties)")
    p.add_argument("--input", metavar="FILE", help="JSON-lines input (default: standard input)")
    p.add_argument("--output", metavar="FILE", help="JSON-lines output (default: standard output)")
    p.set_defaults(handler=run)
