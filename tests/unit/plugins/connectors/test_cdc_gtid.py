"""MySQL GTID sets (``cdc/mysql/gtid.py``): parsing, printing, membership, arithmetic and the resume
check. No MySQL server runs here: these tests cover the logic only, with sets written as MySQL
prints them."""

from __future__ import annotations

import pytest
from lambda_connect.api import ConnectException
from lambda_connect.plugins.connectors.cdc.mysql.gtid import GtidSet, mysql_resume, parse_mysql_gtid

A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B = "4f22ab58-82db-22f2-8f44-d91bb8530673"


def test_a_set_reads_and_prints_as_mysql_does():
    s = GtidSet.parse(f"{B}:1-3,\n{A.upper()}:7-9:1-5:6")  # gtid_executed breaks lines after commas
    assert str(s) == f"{A}:1-9,{B}:1-3"  # sources in order, adjacent ranges merged
    assert str(GtidSet.parse(f"{A}:1-3:5:7-9")) == f"{A}:1-3:5:7-9"
    assert str(GtidSet.parse("")) == "" and not GtidSet.parse(None)
    assert GtidSet.parse(str(s)) == s


def test_tagged_gtids_of_mysql_8_3_are_their_own_sources():
    s = GtidSet.parse(f"{A}:1-3:Batch:1-2:5,{A}:4")
    assert str(s) == f"{A}:1-4,{A}:batch:1-2:5"
    assert s.covers(f"{A}:batch:5") and not s.covers(f"{A}:5") and s.covers(f"{A}:4")
    assert parse_mysql_gtid(f"{A}:tag_1:9") == (f"{A}:tag_1", 9)


@pytest.mark.parametrize("bad", [f"{A}", f"{A}:0", f"{A}:5-3", "not-a-uuid:1", f"{A}:1-x", f"{A}:1:9bad:2"])
def test_a_malformed_set_is_an_error_naming_the_offset_field(bad):
    with pytest.raises(ConnectException, match=r"gtids=.*not a MySQL GTID set"):
        GtidSet.parse(bad)


@pytest.mark.parametrize("bad", ["0-1-42", f"{A}", f"{A}:0", f"{A}:x:y:1"])
def test_a_single_gtid_must_be_uuid_and_number(bad):
    with pytest.raises(ValueError, match="not a MySQL GTID"):
        parse_mysql_gtid(bad)


def test_membership_and_advancing_fill_gaps():
    s = GtidSet.parse(f"{A}:1-3:6")
    assert s.covers(f"{A}:2") and s.covers(f"{A}:6") and not s.covers(f"{A}:4") and not s.covers(f"{B}:1")
    s.advance(f"{A}:5")
    assert str(s) == f"{A}:1-3:5-6"
    s.advance(f"{A}:4")
    s.advance(f"{B}:1")
    assert str(s) == f"{A}:1-6,{B}:1"
    s.advance(f"{A}:2")  # already there: no change
    assert str(s) == f"{A}:1-6,{B}:1"


def test_minus_union_and_contains():
    x = GtidSet.parse(f"{A}:1-10:20-30,{B}:1-5")
    y = GtidSet.parse(f"{A}:3-4:8-22,{B}:1-5")
    assert str(x.minus(y)) == f"{A}:1-2:5-7:23-30"
    assert str(y.minus(x)) == f"{A}:11-19"
    assert str(x.union(y)) == f"{A}:1-30,{B}:1-5"
    assert x.union(y).contains(x) and x.union(y).contains(y) and not x.contains(y)
    assert not x.minus(x) and x.contains(GtidSet())
    assert str(x) == f"{A}:1-10:20-30,{B}:1-5"  # operands unchanged


def test_resume_needs_every_purged_transaction_in_the_stored_set():
    stored = GtidSet.parse(f"{A}:1-100,{B}:1-7")
    assert not mysql_resume(stored, GtidSet.parse(f"{A}:1-90"))  # purged only what was read
    assert not mysql_resume(stored, GtidSet())
    lost = mysql_resume(stored, GtidSet.parse(f"{A}:1-120,{B}:1-3"))
    assert str(lost) == f"{A}:101-120"  # purged before this connector read them
    # a failover target whose own source the stored set never saw, with its start purged
    assert str(mysql_resume(stored, GtidSet.parse(f"{A}:1-50,{B}:1-7,{A[:-1]}3:1-2"))) == f"{A[:-1]}3:1-2"


class _Server:
    """What a MySqlTask asks the server about GTIDs, answered from a dict (no server here)."""

    def __init__(self, variables: dict[str, str], status: tuple) -> None:
        self.variables, self.status = variables, status

    def task(self):
        from lambda_connect.plugins.connectors.cdc.mysql.connector import MySqlTask

        task = MySqlTask()
        task._variable = self.variables.get
        task._query = lambda sql, args=None: [self.status] if "STATUS" in sql else []
        task._target = ("old.000001", 4)
        task._gtids, task._use_gtid = None, False
        return task


def test_a_mysql_with_gtids_on_gives_the_set_at_the_tick_target():
    task = _Server({"gtid_mode": "ON"}, ("binlog.000007", 900, "", "", f"{A}:1-40,\n{B}:1-2")).task()
    found = task._mysql_gtids()
    assert str(found) == f"{A}:1-40,{B}:1-2" and task._target == ("binlog.000007", 900)


@pytest.mark.parametrize("variables,status", [
    ({"gtid_mode": "OFF"}, ("binlog.000007", 900, "", "", "")),
    ({}, ("binlog.000007", 900, "", "")),  # MariaDB: no gtid_mode, four columns
    ({"gtid_mode": "ON"}, ("binlog.000007", 900, "", "", f"{A}:1-4:tag:1")),  # tags the reader cannot send
])
def test_file_and_position_stay_where_mysql_gtids_cannot_serve(variables, status):
    task = _Server(variables, status).task()
    assert task._mysql_gtids() is None and task._target == ("old.000001", 4)


def test_a_stored_set_resumes_unless_the_server_purged_what_it_lacks():
    stored = {"file": "binlog.000003", "pos": 120, "gtids": f"{A}:1-40"}
    task = _Server({"gtid_purged": f"{A}:1-30"}, ()).task()
    assert task._mysql_resume(dict(stored), "initial") == stored
    assert task._use_gtid and str(task._gtids) == f"{A}:1-40"
    gone = _Server({"gtid_purged": f"{A}:1-45"}, ()).task()
    with pytest.raises(ConnectException, match=rf"purged transactions .*{A}:41-45.*snapshot.mode=when_needed"):
        gone._mysql_resume(dict(stored), "initial")
    assert gone._mysql_resume(dict(stored), "when_needed") == {} and not gone._use_gtid
