"""Java ``toString`` rendering of Connect values, so a file written by our
FileStreamSinkTask reads like one written by Kafka's (``PrintStream.println(value)``)."""

from __future__ import annotations

import base64
from typing import Any

from lambda_connect.api.data import Struct

__all__ = ["java_string"]


def java_string(value: Any) -> str:
    """``null``/``true``/``false``, ``{k=v, ...}`` maps, ``[a, b]`` lists, ``Struct{f=v,...}``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, Struct):
        fields = value.schema.fields or []
        inner = ",".join(f"{f.name}={java_string(value.get(f.name))}" for f in fields if value.get(f.name) is not None)
        return "Struct{" + inner + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_string(k)}={java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)
