"""Every BUILTINS entry of Cast, ExtractField, Flatten, HoistField, MaskField, SetSchemaMetadata,
TimestampConverter and TimestampRouter resolves to a transformation carrying the same Kafka name."""

from __future__ import annotations

import pytest
from lambda_connect.api.transform import Transformation
from lambda_connect.plugins import BUILTINS

from tests.unit.plugins.transforms.smt_a_support import transform_class

_MINE = ("Cast", "ExtractField", "Flatten", "HoistField", "MaskField", "SetSchemaMetadata", "TimestampConverter",
         "TimestampRouter")
_NAMES = [name for name, _ in BUILTINS if name.rsplit(".", 1)[-1].split("$")[0] in _MINE]


def test_all_part_a_entries_are_listed() -> None:
    assert len(_NAMES) == 15


@pytest.mark.parametrize("kafka_name", _NAMES)
def test_builtin_resolves_to_transformation_with_kafka_name(kafka_name: str) -> None:
    cls = transform_class(kafka_name)
    assert issubclass(cls, Transformation)
    assert cls.name == kafka_name
    assert getattr(cls, "operates_on_key", False) == kafka_name.endswith("$Key")
