""".proto text <-> ``FileDescriptorProto``, for registries that keep schemas as source text.

The AWS Glue Schema Registry stores Protobuf schemas only as ``.proto`` text, and a Confluent
registry returns text unless asked for ``format=serialized``; no ``protoc`` ships in the layer,
so this is a small parser for the parts of the language that describe data: ``syntax``,
``package``, ``import``, messages (nested), enums, fields with labels, ``map<K, V>``, ``oneof``
and proto3 ``optional``. Options, ``reserved``, ``extensions``, ``extend`` and services are
read past (they do not change how bytes decode). The printer writes the same subset, which is
all that ``_protobuf_data.file_for`` produces.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_connect.api.errors import DataException

__all__ = ["parse_proto", "print_proto"]

_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|(?P<tok>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_.][A-Za-z0-9_.]*|-?[0-9][A-Za-z0-9_.+-]*|[{}\[\]<>()=;,:])""",
    re.S,
)
_SCALARS = {
    "double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6, "fixed32": 7, "bool": 8,
    "string": 9, "bytes": 12, "uint32": 13, "sfixed32": 15, "sfixed64": 16, "sint32": 17, "sint64": 18,
}
_SCALAR_NAMES = {v: k for k, v in _SCALARS.items()}
_LABELS = {"optional": 1, "required": 2, "repeated": 3}


class _Tokens:
    def __init__(self, text: str, what: str) -> None:
        self.what = what
        self.items: list[str] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise DataException(f"Protobuf schema {what}: cannot read the .proto text at {text[pos:pos + 20]!r}")
            if m.group("tok") is not None:
                self.items.append(m.group("tok"))
            pos = m.end()
        self.i = 0

    def peek(self) -> str:
        return self.items[self.i] if self.i < len(self.items) else ""

    def next(self) -> str:
        tok = self.peek()
        if not tok:
            raise DataException(f"Protobuf schema {self.what}: the .proto text ends early")
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.next()
        if got != tok:
            raise DataException(f"Protobuf schema {self.what}: expected {tok!r} but found {got!r}")

    def skip_statement(self) -> None:
        """Read past ``...;`` or a ``{...}`` block, whichever ends first."""
        depth = 0
        while True:
            tok = self.next()
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    return
            elif tok == ";" and depth == 0:
                return


def _string(tok: str) -> str:
    if len(tok) < 2 or tok[0] not in "\"'" or tok[-1] != tok[0]:
        raise ValueError(f"expected a quoted string but found {tok!r}")
    return tok[1:-1].encode().decode("unicode_escape")


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def parse_proto(text: str, file_name: str = "schema.proto", what: str = "") -> Any:
    """A ``FileDescriptorProto`` for ``.proto`` source text (the subset in the module doc)."""
    from google.protobuf import descriptor_pb2

    t = _Tokens(text, what or file_name)
    fdp = descriptor_pb2.FileDescriptorProto(name=file_name, syntax="proto2")
    try:
        _file_body(t, fdp)
    except (ValueError, TypeError, UnicodeError) as e:  # a number or string token that is not one
        raise DataException(f"Protobuf schema {t.what}: cannot read the .proto text near token {t.i}: {e}") from e
    return fdp


def _file_body(t: _Tokens, fdp: Any) -> None:
    while t.peek():
        tok = t.next()
        if tok == "syntax" or tok == "edition":
            t.expect("=")
            fdp.syntax = _string(t.next())
            if tok == "edition":
                raise DataException(f"Protobuf schema {t.what}: editions are not supported, only proto2 and proto3")
            t.expect(";")
        elif tok == "package":
            fdp.package = t.next()
            t.expect(";")
        elif tok == "import":
            name = t.next()
            if name in ("public", "weak"):
                name = t.next()
            fdp.dependency.append(_string(name))
            t.expect(";")
        elif tok == "message":
            _message(t, fdp.message_type.add(), fdp.syntax == "proto3")
        elif tok == "enum":
            _enum(t, fdp.enum_type.add())
        elif tok == ";":
            continue
        else:  # option, service, extend
            t.skip_statement()


def _message(t: _Tokens, mp: Any, proto3: bool) -> None:
    mp.name = t.next()
    t.expect("{")
    synthetic: list[Any] = []
    while (tok := t.next()) != "}":
        if tok == "message":
            _message(t, mp.nested_type.add(), proto3)
        elif tok == "enum":
            _enum(t, mp.enum_type.add())
        elif tok == "oneof":
            index = len(mp.oneof_decl)
            mp.oneof_decl.add(name=t.next())
            t.expect("{")
            while (inner := t.next()) != "}":
                if inner == "option":
                    t.skip_statement()
                    continue
                fp = _field(t, mp, inner, None, proto3)
                fp.oneof_index = index
        elif tok == "map":
            t.expect("<")
            key = t.next()
            t.expect(",")
            value = t.next()
            t.expect(">")
            name = t.next()
            entry = mp.nested_type.add(name=_camel(name) + "Entry")
            entry.options.map_entry = True
            for n, (fname, ftype) in enumerate((("key", key), ("value", value)), start=1):
                _set_type(entry.field.add(name=fname, number=n, label=1), ftype)
            t.expect("=")
            mp.field.add(name=name, number=int(t.next(), 0), label=3, type=11, type_name=entry.name)
            _field_end(t)
        elif tok in ("option", "reserved", "extensions", "extend"):
            t.skip_statement()
        elif tok == ";":
            continue
        else:
            label = tok if tok in _LABELS else None
            fp = _field(t, mp, t.next() if label else tok, label, proto3)
            if label == "optional" and proto3:
                fp.proto3_optional = True
                synthetic.append(fp)
    for fp in synthetic:  # synthetic oneofs come after every real one, as protoc orders them
        fp.oneof_index = len(mp.oneof_decl)
        mp.oneof_decl.add(name="_" + fp.name)


def _set_type(fp: Any, type_name: str) -> None:
    if type_name in _SCALARS:
        fp.type = _SCALARS[type_name]
    else:
        fp.type_name = type_name  # the pool resolves it (message or enum) in scope


def _field(t: _Tokens, mp: Any, type_name: str, label: str | None, proto3: bool) -> Any:
    if type_name == "group":
        raise DataException(f"Protobuf schema {t.what}: proto2 groups are not supported")
    fp = mp.field.add(name=t.next(), label=_LABELS.get(label or "optional", 1))
    _set_type(fp, type_name)
    t.expect("=")
    fp.number = int(t.next(), 0)
    _field_end(t)
    return fp


def _field_end(t: _Tokens) -> None:
    if t.peek() == "[":
        while t.next() != "]":
            pass
    t.expect(";")


def _enum(t: _Tokens, ep: Any) -> None:
    ep.name = t.next()
    t.expect("{")
    while (tok := t.next()) != "}":
        if tok in ("option", "reserved"):
            t.skip_statement()
        elif tok == ";":
            continue
        else:
            t.expect("=")
            ep.value.add(name=tok, number=int(t.next(), 0))
            _field_end(t)


# --- printing -----------------------------------------------------------------------------
def print_proto(fdp: Any) -> str:
    """``.proto`` source for a ``FileDescriptorProto`` (messages, enums, maps, oneofs)."""
    lines = [f'syntax = "{fdp.syntax or "proto2"}";']
    if fdp.package:
        lines.append(f"package {fdp.package};")
    lines.extend(f'import "{dep}";' for dep in fdp.dependency)
    for ep in fdp.enum_type:
        _print_enum(ep, lines, "")
    for mp in fdp.message_type:
        _print_message(mp, lines, "", fdp.syntax == "proto3")
    return "\n".join(lines) + "\n"


def _print_enum(ep: Any, lines: list[str], indent: str) -> None:
    lines.append(f"{indent}enum {ep.name} {{")
    lines.extend(f"{indent}  {v.name} = {v.number};" for v in ep.value)
    lines.append(f"{indent}}}")


def _type_of(fp: Any) -> str:
    return fp.type_name if fp.type_name else _SCALAR_NAMES[fp.type]


def _print_message(mp: Any, lines: list[str], indent: str, proto3: bool) -> None:
    lines.append(f"{indent}message {mp.name} {{")
    inner = indent + "  "
    entries = {n.name: n for n in mp.nested_type if n.options.map_entry}
    for nested in mp.nested_type:
        if nested.name not in entries:
            _print_message(nested, lines, inner, proto3)
    for ep in mp.enum_type:
        _print_enum(ep, lines, inner)
    done: set[int] = set()
    for fp in mp.field:
        if fp.HasField("oneof_index") and not fp.proto3_optional:
            if fp.oneof_index in done:
                continue
            done.add(fp.oneof_index)
            lines.append(f"{inner}oneof {mp.oneof_decl[fp.oneof_index].name} {{")
            for member in mp.field:
                if member.HasField("oneof_index") and member.oneof_index == fp.oneof_index:
                    lines.append(f"{inner}  {_type_of(member)} {member.name} = {member.number};")
            lines.append(f"{inner}}}")
            continue
        entry = entries.get(fp.type_name.rsplit(".", 1)[-1]) if fp.type_name else None
        if entry is not None and fp.label == 3:
            key, value = entry.field[0], entry.field[1]
            lines.append(f"{inner}map<{_type_of(key)}, {_type_of(value)}> {fp.name} = {fp.number};")
            continue
        if fp.label == 3:
            label = "repeated "
        elif fp.proto3_optional or (not proto3 and fp.label == 1):
            label = "optional "
        elif fp.label == 2:
            label = "required "
        else:
            label = ""
        lines.append(f"{inner}{label}{_type_of(fp)} {fp.name} = {fp.number};")
    lines.append(f"{indent}}}")
