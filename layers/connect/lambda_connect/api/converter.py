"""Converters: Kafka bytes <-> Connect data, for keys, values and headers.

A converter is built once per task as ``cls(cls.config_def.parse(props), is_key=...)``,
where ``props`` are the keys under ``key.converter.`` / ``value.converter.`` /
``header.converter.``. Both directions must be pure functions of their inputs (plus caches
that are safe to lose), because one converter instance serves every record of a container.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from .config import Config, ConfigDef
from .data import Schema, SchemaAndValue
from .records import Headers

__all__ = ["Converter", "HeaderConverter"]


class Converter(ABC):
    """Serialises message keys or values.

    ``to_connect_data`` is called for every consumed record (sink side) and must raise
    ``DataException`` for bytes it cannot read — the runtime reports that as a
    KEY_CONVERTER/VALUE_CONVERTER failure of that record only. ``None`` bytes (no key, or a
    tombstone value) must come back as ``SchemaAndValue(None, None)`` unless the format
    says otherwise. ``from_connect_data`` is the reverse for produced records; returning
    ``None`` produces a null key/value.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str | None] = None
    config_def: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        self.config = config
        self.is_key = is_key

    @abstractmethod
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None: ...

    @abstractmethod
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue: ...

    def direct_reader(self) -> tuple[Schema | None, Callable[[bytes | None], Any]] | None:
        """Optional fast path for ``to_connect_data``: ``(schema, fn)`` where ``fn(data)``
        returns the value alone, for converters whose output schema is fixed. If ``fn``
        raises, the runtime calls ``to_connect_data`` so errors are reported as usual.
        Each call must return a fresh value (the runtime edits a map it returns in place).
        The default, None, means "no fast path"."""
        return None

    def identity_check(self) -> Callable[[bytes], bool] | None:
        """Optional: a cheap test for message bytes that ``from_connect_data`` gives back
        byte for byte after ``to_connect_data`` (nothing changing the value in between). The
        batch pipeline forwards such keys untouched instead of converting them twice.
        Offering a test also vouches that null (no key) converts back to null. The default,
        None, means "always convert"."""
        return None

    def direct_writer(self) -> tuple[Schema | None, Callable[[Any], bytes]] | None:
        """Optional fast path for ``from_connect_data``, with the same fallback rule."""
        return None

    def close(self) -> None:
        """Release clients (e.g. a schema registry connection)."""


class HeaderConverter(ABC):
    """Serialises header values; one instance converts every header of every record."""

    name: ClassVar[str] = ""
    version: ClassVar[str | None] = None
    config_def: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None: ...

    @abstractmethod
    def to_connect_header(self, topic: str, header_key: str, data: bytes | None) -> SchemaAndValue: ...

    def close(self) -> None:
        """Release resources."""
