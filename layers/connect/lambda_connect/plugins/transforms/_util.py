"""Helpers every built-in SMT shares: shape checks with Kafka's messages, the common
``replace.null.with.default`` key, a bounded schema cache, and the Key/Value split."""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Importance, Validator
from lambda_connect.api.data import Schema, Struct
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.plans import CompiledPlan, PlanSource, compile_plans, run_plan
from lambda_connect.api.records import ConnectRecord

__all__ = [
    "REPLACE_NULL_WITH_DEFAULT",
    "JavaRegexValidator",
    "KeyOrValue",
    "CompiledPlan",
    "PlanSource",
    "SchemaCache",
    "compile_plans",
    "compile_java_regex",
    "key_value_variants",
    "require_map",
    "require_map_or_null",
    "require_sink_record",
    "require_struct",
    "require_struct_or_null",
    "run_plan",
]

REPLACE_NULL_WITH_DEFAULT = ConfigKey(
    name="replace.null.with.default",
    type=ConfigType.BOOLEAN,
    default="true",
    importance=Importance.MEDIUM,
    doc="A null field whose schema declares a default: true hands on the default, false keeps the null.",
)


def _class_of(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "java.util.HashMap",
        list: "java.util.ArrayList",
        str: "java.lang.String",
        int: "java.lang.Long",
        float: "java.lang.Double",
        bool: "java.lang.Boolean",
        bytes: "[B",
        Struct: "org.apache.kafka.connect.data.Struct",
    }.get(type(value), type(value).__name__)


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    """Kafka's ``Requirements.requireMap``: schemaless operations need a map."""
    if not isinstance(value, dict):
        raise DataException(
            f"Schemaless {purpose} needs a map, got {_class_of(value)}"
        )
    return value


def require_map_or_null(value: Any, purpose: str) -> dict[str, Any] | None:
    return None if value is None else require_map(value, purpose)


def require_struct(value: Any, purpose: str) -> Struct:
    if not isinstance(value, Struct):
        raise DataException(f"Only Struct objects supported for [{purpose}], found: {_class_of(value)}")
    return value


def require_struct_or_null(value: Any, purpose: str) -> Struct | None:
    return None if value is None else require_struct(value, purpose)


def require_sink_record(record: ConnectRecord, purpose: str) -> Any:
    from lambda_connect.api.records import SinkRecord

    if not isinstance(record, SinkRecord):
        raise DataException(f"Only SinkRecord supported for [{purpose}], found: {type(record).__name__}")
    return record


class SchemaCache:
    """A small LRU keyed by input schema: derived schemas are built once per input schema,
    which keeps schema'd transforms cheap on the hot path."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._data: OrderedDict[Any, Schema] = OrderedDict()

    def get_or_build(self, key: Any, build: Callable[[], Schema]) -> Schema:
        try:
            value = self._data[key]
            self._data.move_to_end(key)
            return value
        except KeyError:
            value = build()
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)
            return value


R = TypeVar("R", bound=ConnectRecord)

class KeyOrValue(Generic[R]):
    """Mixin for the ``$Key``/``$Value`` variants: ``operating_*`` read the side the variant
    works on and ``new_with`` writes it back, so an SMT body is written once."""

    operates_on_key: ClassVar[bool] = False

    def operating_schema(self, record: R) -> Schema | None:
        return record.key_schema if self.operates_on_key else record.value_schema

    def operating_value(self, record: R) -> Any:
        return record.key if self.operates_on_key else record.value

    def new_with(self, record: R, schema: Schema | None, value: Any) -> R:
        if self.operates_on_key:
            return record.with_key(schema, value)
        return record.with_value(schema, value)


def config_def(*keys: ConfigKey) -> ConfigDef:
    return ConfigDef(*keys)


# --- Java regular expressions ----------------------------------------------------------------
# Kafka compiles ``regex``/``pattern`` keys with java.util.regex. Python's ``re`` agrees on the
# common syntax; the few differences a topic pattern meets are translated here, and the Java-only
# constructs Python cannot express are rejected with a message instead of matching differently.

_JAVA_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_JAVA_VSPACE = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"


def _translate_java_regex(pattern: str) -> str:
    out: list[str] = []
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise re.error("unexpected internal error: pattern ends with a backslash", pattern, i)
            e = pattern[i + 1]
            if e == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            if e in "pP":
                raise re.error(f"Unicode property classes (\\{e}{{...}}) are not supported", pattern, i)
            if e == "k" and not in_class and pattern.startswith("<", i + 2):
                close = pattern.find(">", i + 3)
                if close < 0:
                    raise re.error("named capturing group is missing trailing '>'", pattern, i)
                out.append(f"(?P={pattern[i + 3 : close]})")
                i = close + 1
                continue
            if e in "hv":
                chars = _JAVA_HSPACE if e == "h" else _JAVA_VSPACE
                out.append(chars if in_class else f"[{chars}]")
            elif e in "HV" and not in_class:
                out.append(f"[^{_JAVA_HSPACE if e == 'H' else _JAVA_VSPACE}]")
            elif e == "z" and not in_class:
                out.append("\\Z")
            elif e == "Z" and not in_class:
                out.append("(?=\\n?\\Z)")
            else:
                out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "[":
                raise re.error("nested character classes are not supported", pattern, i)
            if c == "&" and pattern.startswith("&&", i):
                raise re.error("character class intersection (&&) is not supported", pattern, i)
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            # a ']' right after '[' or '[^' is a literal in both dialects
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):
                out.append("\\]")
                i += 1
            continue
        if c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def compile_java_regex(pattern: str) -> re.Pattern[str]:
    """Compile a ``java.util.regex`` pattern into an equivalent Python pattern.

    Why ``re.ASCII``: Java's ``\\d``, ``\\w``, ``\\s``, ``\\b`` and ``(?i)`` are ASCII-only
    unless ``UNICODE_CHARACTER_CLASS`` is set, whereas Python's are Unicode-aware by default.
    Raises ``re.error`` for syntax either dialect rejects and for Java-only constructs.
    """
    translated = _translate_java_regex(pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(translated, re.ASCII)


class JavaRegexValidator(Validator):
    """Kafka's ``RegexValidator``: the value must compile as a Java regular expression."""

    def __init__(self, non_empty: bool = False) -> None:
        self.non_empty = non_empty

    def __call__(self, name: str, value: Any) -> None:
        if value is None or (self.non_empty and not value):
            raise ConfigException.for_key(name, value, "String must be non-empty")
        try:
            compile_java_regex(value)
        except re.error as e:
            raise ConfigException.for_key(name, value, f"Invalid regex: {e}") from None

    def __str__(self) -> str:
        return "non-empty valid Java regex" if self.non_empty else "valid Java regex"


_TRANSFORMS_PACKAGE = "org.apache.kafka.connect.transforms."
_C = TypeVar("_C", bound=type)


def key_value_variants(simple_name: str) -> Callable[[_C], _C]:
    """Class decorator adding Kafka's nested ``$Key``/``$Value`` variants as ``cls.Key``/``cls.Value``.

    Why a decorator: a Python class cannot subclass its enclosing class inside its own body,
    and the two variants differ only in ``name`` and ``operates_on_key``. Declare
    ``Key: ClassVar[type[Self]]`` / ``Value: ...`` on the class so type checkers see them.
    """

    def attach(cls: _C) -> _C:
        for variant, on_key in (("Key", True), ("Value", False)):
            sub = type(
                variant,
                (cls,),
                {
                    "__doc__": cls.__doc__,
                    "__module__": cls.__module__,
                    "__qualname__": f"{cls.__qualname__}.{variant}",
                    "name": f"{_TRANSFORMS_PACKAGE}{simple_name}${variant}",
                    "operates_on_key": on_key,
                },
            )
            setattr(cls, variant, sub)
        return cls

    return attach
