""".proto text parser and printer: what Glue stores and what a text-answering registry returns."""

from __future__ import annotations

import contextlib

import pytest
from lambda_connect.api.errors import DataException
from lambda_connect.plugins.converters._proto_text import parse_proto, print_proto
from lambda_connect.plugins.converters._protobuf_schemas import build_file, glue_message_order

SOURCE = """
// leading comment
syntax = "proto3";
package shop.v1;
import public "google/protobuf/timestamp.proto";
option java_package = "com.example";  /* block comment */
message Order {
  option deprecated = true;
  enum Status { option allow_alias = true; NEW = 0; DONE = 1 [deprecated = true]; }
  message Line { string sku = 1; int32 qty = 0x2; }
  int64 id = 1;
  optional string note = 2;
  repeated Line lines = 3 [packed = false];
  map<string, Line> by_sku = 4;
  oneof pay { string card = 5; int64 account = 6; }
  Status status = 7;
  google.protobuf.Timestamp at = 8;
  reserved 9, 10 to 12;
  reserved "old";
}
service Shop { rpc Get (Order) returns (Order); }
"""


def test_parses_what_describes_data_and_builds() -> None:
    fdp = parse_proto(SOURCE, "shop.proto")
    desc = build_file(fdp).message_types_by_name["Order"]
    fields = {f.name: f for f in desc.fields}
    assert list(fields) == ["id", "note", "lines", "by_sku", "card", "account", "status", "at"]
    assert fields["lines"].message_type.full_name == "shop.v1.Order.Line"
    assert fields["status"].enum_type.full_name == "shop.v1.Order.Status"
    assert fields["by_sku"].message_type.GetOptions().map_entry
    assert [o.name for o in desc.oneofs] == ["pay", "_note"]  # synthetic oneofs last
    assert desc.nested_types_by_name["Line"].fields_by_name["qty"].number == 2
    assert [d.full_name for d in glue_message_order(build_file(fdp))] == [
        "shop.v1.Order", "shop.v1.Order.BySkuEntry", "shop.v1.Order.Line",
    ]


def test_printed_text_parses_back_to_the_same_descriptor() -> None:
    fdp = parse_proto(SOURCE, "shop.proto")
    text = print_proto(fdp)
    assert "map<string, Line> by_sku = 4;" in text and "oneof pay {" in text and "optional string note = 2;" in text
    assert parse_proto(text, "shop.proto") == fdp


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('syntax = "proto3"; message A { string s = 1 }', "expected ';' but found '}'"),
        ('syntax = "proto3"; message A { string s = 1;', "ends early"),
        ('syntax = "proto2"; message A { optional group G = 1 { } }', "groups are not supported"),
        ('edition = "2023"; message A {}', "editions are not supported"),
        ('syntax = "proto3"; message A { string s = 1; } @', "cannot read the .proto text"),
        ('syntax = "proto3"; message A { string s = abc; }', "cannot read the .proto text near token"),
        ('syntax = proto3; message A {}', "cannot read the .proto text near token"),
    ],
)
def test_bad_text_names_the_schema_and_the_problem(text: str, message: str) -> None:
    with pytest.raises(DataException, match=f"Protobuf schema id 9.*{message}"):
        parse_proto(text, "x.proto", "id 9")


def test_mangled_text_only_ever_fails_with_a_data_exception() -> None:
    """Deleted, repeated and swapped tokens of a valid schema (fixed seed, bounded)."""
    import random

    rnd = random.Random(18)
    tokens = SOURCE.split()
    odd = ["{", "}", ";", "=", '"x"', "1", "-", "<", ">", "map", "oneof", "optional", "message", "enum", "["]
    for _ in range(400):
        mangled = list(tokens)
        for _ in range(rnd.randint(1, 3)):
            j = rnd.randrange(len(mangled))
            roll = rnd.random()
            if roll < 0.4:
                del mangled[j]
            elif roll < 0.7:
                mangled.insert(j, rnd.choice(mangled))
            else:
                mangled[j] = rnd.choice(odd)
        with contextlib.suppress(DataException):  # anything else escaping fails the test
            build_file(parse_proto(" ".join(mangled), "f.proto"))
