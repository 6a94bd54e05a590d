"""RegexRouter: rename the topic with a Java regular expression and replacement."""

from __future__ import annotations

import re
from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._util import JavaRegexValidator, compile_java_regex

__all__ = ["RegexRouter", "parse_java_replacement"]

# A compiled replacement: literal text and group numbers, in order.
Replacement = tuple[str | int, ...]


def parse_java_replacement(replacement: str, pattern: re.Pattern[str]) -> Replacement:
    """Parse ``Matcher.replaceFirst`` syntax: ``$n`` / ``${name}`` group references and ``\\x`` escapes.

    Like Java, ``$12`` means group 12 only if the pattern has that many groups, else group 1
    followed by ``2``. Raises ``ValueError`` with Java's message for references Java rejects.
    """
    parts: list[str | int] = []
    literal: list[str] = []
    i, n = 0, len(replacement)
    group_count = pattern.groups
    while i < n:
        c = replacement[i]
        if c == "\\":
            i += 1
            if i == n:
                raise ValueError("character to be escaped is missing")
            literal.append(replacement[i])
            i += 1
        elif c == "$":
            i += 1
            if i == n:
                raise ValueError("Illegal group reference: group index is missing")
            if replacement[i] == "{":
                i += 1
                start = i
                while i < n and replacement[i].isascii() and replacement[i].isalnum():
                    i += 1
                group_name = replacement[start:i]
                if not group_name:
                    raise ValueError("named capturing group has 0 length name")
                if i == n or replacement[i] != "}":
                    raise ValueError("named capturing group is missing trailing '}'")
                if group_name[0].isdigit():
                    raise ValueError(f"capturing group name {{{group_name}}} starts with digit character")
                if group_name not in pattern.groupindex:
                    raise ValueError(f"No group with name {{{group_name}}}")
                ref = pattern.groupindex[group_name]
                i += 1
            else:
                if not "0" <= replacement[i] <= "9":
                    raise ValueError("Illegal group reference")
                ref = ord(replacement[i]) - ord("0")
                i += 1
                while i < n and "0" <= replacement[i] <= "9":
                    longer = ref * 10 + ord(replacement[i]) - ord("0")
                    if longer > group_count:
                        break
                    ref = longer
                    i += 1
                if ref > group_count:
                    raise ValueError(f"No group {ref}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(ref)
        else:
            literal.append(c)
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


class RegexRouter(Transformation[Any]):
    """Update the record topic using the configured regular expression and replacement string.

    The regex must match the whole topic (Java ``Matcher.matches``); the topic then becomes the
    first match replaced, with ``$1``-style group references. Other topics pass unchanged.
    Difference from Kafka: a replacement referring to a group the regex does not have is
    rejected at configuration time instead of failing every matching record.
    """

    name = "org.apache.kafka.connect.transforms.RegexRouter"
    config_def = ConfigDef(
        ConfigKey(
            name="regex",
            type=ConfigType.STRING,
            validator=JavaRegexValidator(),
            importance=Importance.HIGH,
            doc="Regular expression to use for matching.",
        ),
        ConfigKey(
            name="replacement",
            type=ConfigType.STRING,
            importance=Importance.HIGH,
            doc="Replacement string.",
        ),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._regex = compile_java_regex(config["regex"])
        try:
            parts = parse_java_replacement(config["replacement"], self._regex)
        except ValueError as e:
            groups = self._regex.groups
            raise ConfigException.for_key(
                "replacement", config["replacement"], f"{e}: the regex {config['regex']!r} has {groups} group(s)"
            ) from None
        self._parts = parts
        # A replacement without group references is a constant: skip building it per record.
        literal_only = all(isinstance(p, str) for p in parts)
        self._constant: str | None = "".join(str(p) for p in parts) if literal_only else None

    def _expand(self, match: re.Match[str]) -> str:
        if self._constant is not None:
            return self._constant
        return "".join(p if isinstance(p, str) else (match.group(p) or "") for p in self._parts)

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        topic = record.topic
        if topic is None or self._regex.fullmatch(topic) is None:
            return record
        # Java's replaceFirst searches again from the start, so the first match may be shorter
        # than the whole topic (e.g. ``a|ab`` on ``ab``); ``sub(count=1)`` does the same.
        return record.new_record(topic=self._regex.sub(self._expand, topic, count=1))
