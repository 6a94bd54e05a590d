"""Unit tests of the CDC sources' pure parts: lag arithmetic, GTID positions, config handling."""

from __future__ import annotations

from lambda_connect.plugins.connectors.cdc.mysql.connector import binlog_lag


def test_binlog_lag_counts_the_rest_of_the_file_and_every_later_file():
    files = [("binlog.000001", 1000), ("binlog.000002", 500), ("binlog.000003", 300)]
    assert binlog_lag(files, ("binlog.000003", 300)) == 0
    assert binlog_lag(files, ("binlog.000003", 100)) == 200
    assert binlog_lag(files, ("binlog.000001", 400)) == 600 + 500 + 300


def test_binlog_lag_is_unknown_for_a_purged_file():
    assert binlog_lag([("binlog.000002", 10)], ("binlog.000001", 4)) is None
