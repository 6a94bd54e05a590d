"""HasHeaderKey: is there a header with a given name?"""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, NonEmptyString
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Predicate

__all__ = ["HasHeaderKey"]


class HasHeaderKey(Predicate[Any]):
    """Matches a record that carries a header of the configured name (at least one).

    Header values are irrelevant: a header whose value is null still counts.
    """

    name = "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"
    config_def = ConfigDef(
        ConfigKey(
            name="name",
            type=ConfigType.STRING,
            validator=NonEmptyString(),
            importance=Importance.MEDIUM,
            doc="The header name.",
        ),
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._name: str = config["name"]

    def test(self, record: ConnectRecord) -> bool:
        return record.headers.has(self._name)

    def __repr__(self) -> str:
        return f"HasHeaderKey{{name='{self._name}'}}"
