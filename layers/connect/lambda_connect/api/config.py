"""Declarative configuration, with Kafka's ``ConfigDef`` semantics.

A plugin declares its keys once in a ``ConfigDef``; the same definition parses the
string map a user supplies, drives ``PUT /connector-plugins/{p}/config/validate`` and the
generated docs. Two entry points, on purpose:

* ``validate(props)`` never raises: it returns one ``ConfigValue`` per key with its parsed
  value and every error, as Kafka's REST validation needs.
* ``parse(props)`` raises one ``ConfigException`` listing every problem, so a user fixes a
  config in one go instead of one error per deploy.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ConfigException

__all__ = [
    "REQUIRED",
    "CaseInsensitiveValidString",
    "CompositeValidator",
    "Config",
    "ConfigDef",
    "ConfigKey",
    "ConfigType",
    "ConfigValue",
    "Importance",
    "LambdaValidator",
    "NonEmptyList",
    "NonEmptyString",
    "NonNull",
    "Password",
    "Range",
    "ValidRegex",
    "ValidString",
    "Validator",
    "Width",
]


class _Required:
    """Marker for 'no default value': the key must be supplied."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class ConfigType(enum.Enum):
    """Kafka's config value types (``ConfigDef.Type``)."""

    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Width(enum.Enum):
    NONE = "NONE"
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    LONG = "LONG"


class Password:
    """A secret value: its ``repr``/``str`` never show the text (Kafka prints ``[hidden]``)."""

    __slots__ = ("_value",)
    HIDDEN = "[hidden]"

    def __init__(self, value: str) -> None:
        self._value = value

    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return self.HIDDEN

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Password) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


_INT_BOUNDS = {
    ConfigType.INT: (-(2**31), 2**31 - 1),
    ConfigType.SHORT: (-(2**15), 2**15 - 1),
    ConfigType.LONG: (-(2**63), 2**63 - 1),
}


def parse_type(name: str, value: Any, type_: ConfigType) -> Any:
    """Parse a raw (usually string) value into ``type_`` the way Kafka does; None stays None."""
    if value is None:
        return None
    try:
        if type_ is ConfigType.BOOLEAN:
            if isinstance(value, bool):
                return value
            if isinstance(value, str):
                t = value.strip().lower()
                if t == "true":
                    return True
                if t == "false":
                    return False
            raise ConfigException.for_key(name, value, "Expected value to be either true or false")
        if type_ is ConfigType.PASSWORD:
            if isinstance(value, Password):
                return value
            if isinstance(value, str):
                return Password(value)
            raise ConfigException.for_key(
                name, value, "Expected value to be a string, but it was a " + type(value).__name__
            )
        if type_ is ConfigType.STRING or type_ is ConfigType.CLASS:
            if isinstance(value, str):
                return value.strip()
            if type_ is ConfigType.CLASS and isinstance(value, type):
                return value
            raise ConfigException.for_key(
                name, value, "Expected value to be a string, but it was a " + type(value).__name__
            )
        if type_ in _INT_BOUNDS:
            if isinstance(value, bool):
                raise ConfigException.for_key(name, value, f"Expected value to be a {_java_type(type_)} number")
            if isinstance(value, int):
                n = value
            elif isinstance(value, str):
                t = value.strip()
                if not re.fullmatch(r"[+-]?\d+", t):
                    raise ConfigException.for_key(name, value, f"Not a number of type {type_.value}")
                n = int(t)
            else:
                raise ConfigException.for_key(name, value, f"Expected value to be a {_java_type(type_)} number")
            lo, hi = _INT_BOUNDS[type_]
            if not lo <= n <= hi:
                raise ConfigException.for_key(name, value, f"Not a number of type {type_.value}")
            return n
        if type_ is ConfigType.DOUBLE:
            if isinstance(value, bool):
                raise ConfigException.for_key(name, value, "Expected value to be a 64-bit floating point number")
            if isinstance(value, (int, float)):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value.strip())
                except ValueError:
                    raise ConfigException.for_key(name, value, "Not a number of type DOUBLE") from None
            raise ConfigException.for_key(name, value, "Expected value to be a 64-bit floating point number")
        if type_ is ConfigType.LIST:
            if isinstance(value, (list, tuple)):
                return [str(v).strip() if not isinstance(v, str) else v for v in value]
            if isinstance(value, str):
                t = value.strip()
                if not t:
                    return []
                return [item.strip() for item in t.split(",")]
            raise ConfigException.for_key(name, value, "Expected a comma separated list.")
    except ConfigException:
        raise
    raise ConfigException.for_key(name, value, f"Unknown type {type_}")


def _java_type(t: ConfigType) -> str:
    return {ConfigType.INT: "32-bit integer", ConfigType.SHORT: "16-bit integer", ConfigType.LONG: "64-bit integer"}[t]


def to_config_string(value: Any, type_: ConfigType | None = None) -> str | None:
    """Render a parsed value back into Kafka's string form (lists comma-joined)."""
    if value is None or value is REQUIRED:
        return None
    if isinstance(value, Password):
        return Password.HIDDEN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, type):
        return getattr(value, "name", value.__qualname__)
    return str(value)


# --- validators ---------------------------------------------------------------------------


class Validator(ABC):
    """Checks a parsed value; raises ``ConfigException`` naming the key on failure.

    ``str(validator)`` is shown in generated docs, as Kafka's ``Validator.toString``.
    """

    @abstractmethod
    def __call__(self, name: str, value: Any) -> None:
        """Raise ``ConfigException`` when ``value`` is not acceptable for ``name``."""

    def __str__(self) -> str:
        return ""


class Range(Validator):
    """Numeric bounds, inclusive; either side may be open."""

    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min, self.max = min, max

    @classmethod
    def at_least(cls, min: float) -> Range:
        return cls(min, None)

    @classmethod
    def between(cls, min: float, max: float) -> Range:
        return cls(min, max)

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigException.for_key(name, None, "Value must be non-null")
        if self.min is not None and value < self.min:
            reason = (
                f"Value must be at least {self.min}" if self.max is None else f"Value must be no less than {self.min}"
            )
            raise ConfigException.for_key(name, value, reason)
        if self.max is not None and value > self.max:
            raise ConfigException.for_key(name, value, f"Value must be no more than {self.max}")

    def __str__(self) -> str:
        if self.max is None:
            return f"[{self.min},...]"
        if self.min is None:
            return f"[...,{self.max}]"
        return f"[{self.min},...,{self.max}]"


class ValidString(Validator):
    """The value must be one of a fixed set (case-sensitive, as Kafka's ``ValidString``)."""

    def __init__(self, *allowed: str) -> None:
        self.allowed = list(allowed)

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.allowed:
            raise ConfigException.for_key(name, value, "String must be one of: " + ", ".join(self.allowed))

    def __str__(self) -> str:
        return "[" + ", ".join(self.allowed) + "]"


class CaseInsensitiveValidString(Validator):
    def __init__(self, *allowed: str) -> None:
        self.allowed = list(allowed)
        self._lower = {a.lower() for a in allowed}

    def __call__(self, name: str, value: Any) -> None:
        if value is None or str(value).lower() not in self._lower:
            raise ConfigException.for_key(
                name, value, "String must be one of (case insensitive): " + ", ".join(self.allowed)
            )

    def __str__(self) -> str:
        return "(case insensitive) [" + ", ".join(self.allowed) + "]"


class NonEmptyString(Validator):
    def __call__(self, name: str, value: Any) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ConfigException.for_key(name, value, "String must be non-empty")

    def __str__(self) -> str:
        return "non-empty string"


class NonNull(Validator):
    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigException(
                f"Invalid value null for configuration {name}: entry must be non null",
                {name: ["entry must be non null"]},
            )

    def __str__(self) -> str:
        return "non-null value"


class NonEmptyList(Validator):
    def __init__(self, message: str = "Empty list") -> None:
        self.message = message

    def __call__(self, name: str, value: Any) -> None:
        if not value:
            raise ConfigException.for_key(name, value if value is not None else "null", self.message)

    def __str__(self) -> str:
        return "non-empty list"


class ValidRegex(Validator):
    """The value compiles as a regular expression (empty allowed unless ``non_empty``)."""

    def __init__(self, non_empty: bool = False) -> None:
        self.non_empty = non_empty

    def __call__(self, name: str, value: Any) -> None:
        if value is None or (self.non_empty and not str(value)):
            raise ConfigException.for_key(name, value, "String must be non-empty")
        try:
            re.compile(str(value))
        except re.error as e:
            raise ConfigException.for_key(name, value, f"Invalid regex: {e}") from None

    def __str__(self) -> str:
        return "valid regex"


class LambdaValidator(Validator):
    """Adapt a function ``check(name, value)`` that raises ConfigException."""

    def __init__(self, check: Callable[[str, Any], None], description: str = "") -> None:
        self.check, self.description = check, description

    def __call__(self, name: str, value: Any) -> None:
        self.check(name, value)

    def __str__(self) -> str:
        return self.description


class CompositeValidator(Validator):
    def __init__(self, *validators: Validator) -> None:
        self.validators = validators

    def __call__(self, name: str, value: Any) -> None:
        for v in self.validators:
            v(name, value)

    def __str__(self) -> str:
        return ", ".join(str(v) for v in self.validators if str(v))


# --- definitions --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConfigKey:
    """One declared key; keyword-only so definitions read like Kafka's docs tables."""

    name: str
    type: ConfigType
    default: Any = REQUIRED
    validator: Validator | None = None
    importance: Importance = Importance.MEDIUM
    doc: str = ""
    group: str | None = None
    order_in_group: int = -1
    width: Width = Width.NONE
    display_name: str | None = None
    dependents: tuple[str, ...] = ()
    recommended_values: tuple[str, ...] = ()
    internal: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def parsed_default(self) -> Any:
        if self.default is REQUIRED:
            return None
        return parse_type(self.name, self.default, self.type)


@dataclass
class ConfigValue:
    """The outcome of validating one key: its value, every error found, and what to suggest."""

    name: str
    value: Any = None
    recommended_values: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visible: bool = True


class ConfigDef:
    """An ordered set of ``ConfigKey``s.

    ``ConfigDef(k1, k2, ...)`` or ``ConfigDef().define(...)``. Definitions are combined with
    ``+`` and ``embed`` (prefixing every key, as Kafka embeds a transform's keys under
    ``transforms.<alias>.``).
    """

    def __init__(self, *keys: ConfigKey) -> None:
        self._keys: dict[str, ConfigKey] = {}
        for k in keys:
            self._add(k)

    def _add(self, key: ConfigKey) -> None:
        if key.name in self._keys:
            raise ConfigException(f"Configuration {key.name} is defined twice.")
        if not key.required and key.default is not None:
            parsed = parse_type(key.name, key.default, key.type)
            if key.validator is not None:
                key.validator(key.name, parsed)
        self._keys[key.name] = key

    def define(self, name: str, type: ConfigType, default: Any = REQUIRED, **kwargs: Any) -> ConfigDef:
        self._add(ConfigKey(name=name, type=type, default=default, **kwargs))
        return self

    # --- introspection ----------------------------------------------------------------
    @property
    def keys(self) -> Mapping[str, ConfigKey]:
        return self._keys

    def __contains__(self, name: object) -> bool:
        return name in self._keys

    def __iter__(self) -> Iterator[ConfigKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def names(self) -> list[str]:
        return list(self._keys)

    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for k in self._keys.values():
            if k.group:
                seen.setdefault(k.group)
        return list(seen)

    # --- combination ------------------------------------------------------------------
    def __add__(self, other: ConfigDef) -> ConfigDef:
        out = ConfigDef()
        out._keys = dict(self._keys)
        for k in other:
            out._keys[k.name] = k  # later definitions win, as plugin defs override common ones
        return out

    def embed(self, prefix: str, group: str | None, child: ConfigDef, start_order: int = 0) -> ConfigDef:
        """A copy plus every key of ``child`` under ``prefix`` in ``group``."""
        out = self + ConfigDef()
        order = start_order
        for k in child:
            order += 1
            out._keys[prefix + k.name] = replace(
                k,
                name=prefix + k.name,
                group=group,
                order_in_group=order,
                dependents=tuple(prefix + d for d in k.dependents),
            )
        return out

    # --- validation -------------------------------------------------------------------
    def validate(self, props: Mapping[str, Any]) -> dict[str, ConfigValue]:
        """One ``ConfigValue`` per defined key, in definition order; never raises."""
        results: dict[str, ConfigValue] = {}
        for key in self._keys.values():
            cv = ConfigValue(key.name, recommended_values=list(key.recommended_values))
            results[key.name] = cv
            if key.name in props:
                raw = props[key.name]
            elif key.required:
                cv.errors.append(f'Missing required configuration "{key.name}" which has no default value.')
                continue
            else:
                raw = key.default
            try:
                value = _parse_with_hint(key, raw)
                cv.value = value
                if key.validator is not None and (value is not None or key.name in props):
                    key.validator(key.name, value)
            except ConfigException as e:
                cv.errors.append(str(e))
            except Exception as e:  # a validator bug must not break validation of the rest
                cv.errors.append(f"Invalid value {raw} for configuration {key.name}: {e}")
        return results

    def parse(self, props: Mapping[str, Any]) -> Config:
        """Parse into a ``Config`` or raise one ``ConfigException`` listing every problem."""
        results = self.validate(props)
        errors = {name: cv.errors for name, cv in results.items() if cv.errors}
        if errors:
            raise ConfigException(errors=errors)
        return Config(self, {name: cv.value for name, cv in results.items()}, props)


_TYPE_WORDS = {
    ConfigType.SHORT: "whole numbers", ConfigType.INT: "whole numbers", ConfigType.LONG: "whole numbers",
    ConfigType.DOUBLE: "numbers",
}


def _parse_with_hint(key: ConfigKey, raw: Any) -> Any:
    """``parse_type``, whose error also says what the key accepts when a validator knows.

    "Not a number of type INT" alone leaves the user guessing whether 0.5 s is too fine or
    the unit is wrong; naming the accepted range answers both.
    """
    try:
        return parse_type(key.name, raw, key.type)
    except ConfigException as e:
        words = _TYPE_WORDS.get(key.type)
        if key.validator is None or words is None:
            raise
        message = f"{e}. {key.name} takes {words} in {key.validator}"
        raise ConfigException(message, {key.name: [message]}) from None


class Config(Mapping[str, Any]):
    """Parsed values of a ``ConfigDef``; reading an undeclared key raises ``KeyError``.

    ``originals`` keeps every supplied key, declared or not, because plugins forward
    unknown keys (client overrides, prefixes) the way Kafka's ``AbstractConfig`` does.
    """

    def __init__(self, definition: ConfigDef, values: Mapping[str, Any], originals: Mapping[str, Any]) -> None:
        self.definition = definition
        self._values = dict(values)
        self.originals: dict[str, Any] = dict(originals)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def password(self, name: str) -> str | None:
        """The clear text of a PASSWORD key (None when unset)."""
        v = self._values[name]
        return v.value() if isinstance(v, Password) else v

    def originals_with_prefix(self, prefix: str, strip: bool = True) -> dict[str, Any]:
        return {(k[len(prefix) :] if strip else k): v for k, v in self.originals.items() if k.startswith(prefix)}

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


def keys_in_order(defs: Iterable[ConfigDef]) -> list[str]:
    out: list[str] = []
    for d in defs:
        out.extend(d.names())
    return out


def check_list_entries(name: str, values: Sequence[str], pattern: str, message: str) -> None:
    """Raise on the first entry of a LIST key that does not match ``pattern`` (helper for SMTs)."""
    for v in values:
        if not re.fullmatch(pattern, v):
            raise ConfigException.for_key(name, ",".join(values), message)
