"""TopicNameMatches: does the whole topic name match a Java regular expression?"""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Predicate
from lambda_connect.plugins.transforms._util import JavaRegexValidator, compile_java_regex

__all__ = ["TopicNameMatches"]


class TopicNameMatches(Predicate[Any]):
    """Matches a record whose topic name fully matches the configured regular expression.

    The pattern must match the entire topic (Java ``Matcher.matches``), not just a part of it.
    """

    name = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"
    config_def = ConfigDef(
        ConfigKey(
            name="pattern",
            type=ConfigType.STRING,
            validator=JavaRegexValidator(non_empty=True),
            importance=Importance.MEDIUM,
            doc="A Java regular expression for matching against the name of a topic.",
        ),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._source: str = config["pattern"]
        self._pattern = compile_java_regex(self._source)

    def test(self, record: ConnectRecord) -> bool:
        return record.topic is not None and self._pattern.fullmatch(record.topic) is not None

    def __repr__(self) -> str:
        return f"TopicNameMatches{{pattern={self._source}}}"
