"""Single message transforms (SMTs) and predicates.

The runtime builds a plugin as ``cls(cls.config_def.parse(props))``: a plugin parses its
configuration once, in ``__init__``, and raises ``ConfigException`` naming the key for
anything ``ConfigDef`` cannot express. ``apply`` then runs per record on the hot path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

from .config import Config, ConfigDef
from .plans import PlanSource
from .records import ConnectRecord

__all__ = ["Predicate", "Transformation"]

R = TypeVar("R", bound=ConnectRecord)


class Transformation(ABC, Generic[R]):
    """Change one record at a time.

    ``apply`` is called once per record, in order, on the thread that runs the task:

    * return a new record (``record.new_record(...)``) to pass it on;
    * return ``None`` to drop it (the rest of the chain is skipped);
    * never mutate the record or anything reachable from it (its value, its headers): the
      runtime keeps the original for the dead letter queue;
    * raise ``DataException`` for a record that cannot be transformed; the error handler
      then applies ``errors.tolerance`` to that record alone.

    ``name`` is Kafka's full class name (e.g. ``org.apache.kafka.connect.transforms.InsertField$Value``)
    so configs copied from a Kafka Connect cluster resolve unchanged.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str | None] = None
    config_def: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def apply(self, record: R) -> R | None: ...

    def schemaless_source(self) -> PlanSource | None:
        """Optional fast path: the edit ``apply`` makes to a schemaless map, as source code
        that changes the map IN PLACE (contract in ``lambda_connect.api.plans``).

        The runtime pastes the sources of consecutive predicate-free transforms into one
        generated function: one map copy, no call between transforms, and for batches no
        record objects at all. It uses the result only when the operating schema is None and
        the value is a dict, and falls back to ``apply`` otherwise and whenever the code
        raises (so ``apply`` reports errors). The code must do exactly what ``apply`` does to
        such a value; compiling it for ``apply`` too (``compile_plans``) keeps the two equal.
        The default, None, means "no fast path"."""
        return None

    def close(self) -> None:
        """Called once when the task stops or the chain is rebuilt after a config change."""


class Predicate(ABC, Generic[R]):
    """A condition on a record that decides whether a transform applies (KIP-585).

    ``test`` must be side-effect free; it is evaluated for every record that reaches a
    transform using the predicate, and errors raised here count as TRANSFORMATION failures.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str | None] = None
    config_def: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self, config: Config) -> None:
        self.config = config

    @abstractmethod
    def test(self, record: R) -> bool: ...

    def close(self) -> None:
        """Called once when the chain is discarded."""


def plugin_kind(cls: type[Any]) -> str:
    """Kafka's PluginInfo ``type`` for a plugin class."""
    from .connector import SinkConnector, SourceConnector
    from .converter import Converter, HeaderConverter

    if issubclass(cls, SourceConnector):
        return "source"
    if issubclass(cls, SinkConnector):
        return "sink"
    if issubclass(cls, HeaderConverter):
        return "header_converter"
    if issubclass(cls, Converter):
        return "converter"
    if issubclass(cls, Transformation):
        return "transformation"
    if issubclass(cls, Predicate):
        return "predicate"
    return "unknown"
