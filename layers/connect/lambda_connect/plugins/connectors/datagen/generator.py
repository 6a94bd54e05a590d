"""Quickstart specs → Connect schemas and reproducible random values.

A quickstart (``quickstart/<name>.json``) lists fields with a Connect type and a generator:
``{"range": [lo, hi]}`` (uniform, int or float after the field type), ``{"prefix": "Item_",
"range": [1, 999]}`` (a string), ``{"choice": [...]}``, or ``{"iteration": {"start", "step"}}``
(the record's sequence number, as Confluent's ``arg.properties.iteration``). Structs nest.

Why each record has its own generator seeded from (seed, task, sequence number): a Lambda task
lives for one invocation, and the next one must continue the *same* sequence from nothing but the
committed offset. Deriving the random state from the position makes record *n* identical
whichever invocation produces it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lambda_connect.api import ConfigException, Schema, Struct, Type

__all__ = ["QUICKSTARTS", "Quickstart", "load_quickstart", "record_random"]

QUICKSTARTS = ("orders", "pageviews", "users")


@dataclass(frozen=True)
class _FieldGen:
    name: str
    schema: Schema
    gen: Mapping[str, Any]
    children: tuple[_FieldGen, ...] = ()


@dataclass(frozen=True)
class Quickstart:
    """A loaded quickstart: its value schema, key field, and the generator tree."""

    name: str
    schema: Schema
    key_field: str | None
    fields: tuple[_FieldGen, ...]

    @property
    def key_schema(self) -> Schema | None:
        if self.key_field is None:
            return None
        field = self.schema.field(self.key_field)
        if field is None:
            raise ConfigException.for_key("schema.keyfield", self.key_field, f"No such field in {self.schema.name}")
        return field.schema

    def value(self, rng: random.Random, iteration: int) -> Struct:
        return _struct(self.schema, self.fields, rng, iteration)


def _build(spec: Mapping[str, Any]) -> _FieldGen:
    type_ = Type(spec["type"])
    if type_ is Type.STRUCT:
        children = tuple(_build(f) for f in spec["fields"])
        schema = Schema.struct([(c.name, c.schema) for c in children], name=spec.get("schema_name"))
        return _FieldGen(spec["name"], schema, {}, children)
    return _FieldGen(spec["name"], Schema(type_), spec["gen"])


def load_quickstart(name: str, key_field: str | None = None) -> Quickstart:
    """Read ``quickstart/<name>.json``; ``key_field`` overrides the quickstart's key."""
    if name not in QUICKSTARTS:
        raise ConfigException.for_key("quickstart", name, "String must be one of: " + ", ".join(QUICKSTARTS))
    text = resources.files(__package__).joinpath("quickstart", f"{name}.json").read_text(encoding="utf-8")
    spec = json.loads(text)
    fields = tuple(_build(f) for f in spec["fields"])
    schema = Schema.struct([(f.name, f.schema) for f in fields], name=spec["name"])
    return Quickstart(name, schema, key_field or spec.get("key"), fields)


def record_random(seed: int, task_id: int, iteration: int) -> random.Random:
    """The generator for one record: a pure function of its position (see module docstring)."""
    digest = hashlib.blake2b(f"{seed}:{task_id}:{iteration}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _struct(schema: Schema, fields: Sequence[_FieldGen], rng: random.Random, iteration: int) -> Struct:
    struct = Struct(schema)
    for f in fields:
        if f.children:
            struct.put(f.name, _struct(f.schema, f.children, rng, iteration))
        else:
            struct.put(f.name, _value(f, rng, iteration))
    return struct


def _value(f: _FieldGen, rng: random.Random, iteration: int) -> Any:
    gen, t = f.gen, f.schema.type
    if "iteration" in gen:
        it = gen["iteration"]
        number: Any = it.get("start", 0) + it.get("step", 1) * iteration
    elif "choice" in gen:
        return rng.choice(gen["choice"])
    else:
        lo, hi = gen["range"]
        number = rng.uniform(lo, hi) if t in (Type.FLOAT32, Type.FLOAT64) else rng.randint(lo, hi)
    if "prefix" in gen:
        return f"{gen['prefix']}{number}"
    if t is Type.STRING:
        return str(number)
    if t in (Type.FLOAT32, Type.FLOAT64):
        return float(number)
    return int(number)
