"""``topic.creation.*`` groups (KIP-158) as the source runtime applies them."""

from __future__ import annotations

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.topic_creation import TopicCreation, TopicCreator

BASE = {"topic.creation.default.replication.factor": "3", "topic.creation.default.partitions": "5"}


def test_no_topic_creation_keys_means_topic_creation_is_off():
    assert TopicCreation.from_config({"name": "x"}) is None


def test_first_matching_group_wins_and_default_takes_the_rest():
    creation = TopicCreation.from_config({
        **BASE,
        "topic.creation.default.compression.type": "lz4",
        "topic.creation.groups": "inorder,compacted",
        "topic.creation.inorder.include": "status, orders.*",
        "topic.creation.inorder.exclude": "orders-tmp.*",
        "topic.creation.inorder.partitions": "1",
        "topic.creation.compacted.include": "orders.*",
        "topic.creation.compacted.cleanup.policy": "compact",
    })
    inorder = creation.group_for("orders-eu")
    assert (inorder.name, inorder.partitions, inorder.replication_factor) == ("inorder", 1, 3)
    assert creation.group_for("orders-tmp-1").name == "compacted"
    assert creation.group_for("orders-tmp-1").configs == {"cleanup.policy": "compact"}
    assert creation.group_for("xstatus").name == "default"  # full match only
    assert creation.group_for("status").name == "inorder"
    default = creation.group_for("payments")
    assert (default.partitions, default.replication_factor, default.configs) == (5, 3, {"compression.type": "lz4"})


def test_default_group_settings_are_required_once_topic_creation_is_used():
    with pytest.raises(ConfigException, match=r"topic\.creation\.default\.replication\.factor"):
        TopicCreation.from_config({"topic.creation.default.partitions": "1"})
    with pytest.raises(ConfigException, match="Value must be -1 or at least 1"):
        TopicCreation.from_config({**BASE, "topic.creation.default.partitions": "0"})


def test_creator_asks_the_broker_once_per_topic():
    calls: list[tuple[str, int, int]] = []
    creator = TopicCreator(TopicCreation.from_config({**BASE, "topic.creation.default.partitions": "-1"}),
                           lambda t, p, rf, cfg: calls.append((t, p, rf)) is None)
    for topic in ("a", "b", "a", "a"):
        creator.ensure(topic)
    assert calls == [("a", -1, 3), ("b", -1, 3)]
