"""Every REST endpoint through the connector_api handler with HTTP API payload 2.0 events,
against the memory store and SQLite — status codes, bodies and error shapes as Kafka Connect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.rest.http_api import build_handler
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import StatusEntry, open_store

from tests.unit.rest.api_events import ApiClient, FakeSinkOffsets, load_event

SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/unused.txt", "tasks.max": "2"}
SOURCE = {"connector.class": "FileStreamSource", "topic": "lines", "file": "/tmp/unused-in.txt"}


class Api(ApiClient):
    def __init__(self, handler: Any, store: Any, offsets: FakeSinkOffsets, changes: list[str]) -> None:
        super().__init__(handler)
        self.store = store
        self.offsets = offsets
        self.changes = changes

    def create(self, name: str, config: dict[str, str] | None = None, **extra: Any) -> Any:
        reply = self.post("/connectors", {"name": name, "config": dict(config or SINK), **extra})
        assert reply.status == 201, reply.text
        return reply.json


@pytest.fixture(params=["memory", "sqlite"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/state.db"
    store = open_store(url)
    offsets = FakeSinkOffsets()
    changes: list[str] = []
    handler = build_handler(store, LocalFileSecretStore(tmp_path / "secrets.json"), offsets,
                            {"AWS_LAMBDA_FUNCTION_NAME": "connector-api", "LAMBDA_CONNECT_KAFKA_CLUSTER_ID": "c-1"})
    handler.router.service.on_change = changes.append
    yield Api(handler, store, offsets, changes)
    store.close()


def assert_error(reply: Any, status: int, fragment: str) -> None:
    assert reply.status == status, reply.text
    assert reply.json["error_code"] == status
    assert fragment in reply.json["message"], reply.json["message"]


# --- worker endpoints ---------------------------------------------------------------------------
def test_root_reports_version_and_cluster(api: Api) -> None:
    reply = api.get("/")
    assert reply.status == 200
    assert set(reply.json) == {"version", "commit", "kafka_cluster_id"}
    assert reply.json["kafka_cluster_id"] == "c-1"


def test_health_is_healthy(api: Api) -> None:
    reply = api.get("/health")
    assert reply.status == 200 and reply.json["status"] == "healthy"


def test_health_reports_an_unreachable_store(api: Api) -> None:
    def broken() -> list[str]:
        raise OSError("connection refused")

    api.store.list_connectors = broken
    reply = api.get("/health")
    assert reply.status == 500 and reply.json["status"] == "unhealthy"
    assert "unable to handle this request" in reply.json["message"]


def test_unknown_path_and_wrong_method(api: Api) -> None:
    assert_error(api.get("/nope"), 404, "HTTP 404 Not Found")
    reply = api.call("DELETE", "/connectors")
    assert_error(reply, 405, "HTTP 405 Method Not Allowed")
    assert "GET" in reply.headers["Allow"] and "POST" in reply.headers["Allow"]


def test_openapi_lists_every_route(api: Api) -> None:
    from lambda_connect.rest.router import ROUTES

    doc = api.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    for route in ROUTES:
        assert route.method.lower() in doc["paths"][route.template]


# --- create / read / list -----------------------------------------------------------------------
def test_create_returns_201_with_location_and_info(api: Api) -> None:
    reply = api.post("/connectors", {"name": " orders ", "config": SINK})
    assert reply.status == 201
    assert reply.headers["Location"] == "/connectors/orders"
    info = reply.json
    assert info["name"] == "orders" and info["type"] == "sink"
    assert info["config"]["name"] == "orders"
    assert info["tasks"] == [{"connector": "orders", "task": 0}, {"connector": "orders", "task": 1}]
    assert api.changes == ["orders"]


def test_create_twice_is_409(api: Api) -> None:
    api.create("dup")
    assert_error(api.post("/connectors", {"name": "dup", "config": SINK}), 409, "Connector dup already exists")


def test_create_with_name_mismatch_is_400(api: Api) -> None:
    reply = api.post("/connectors", {"name": "a", "config": {**SINK, "name": "b"}})
    assert_error(reply, 400, "Connector name configuration (b) doesn't match connector name in the URL (a)")
    assert api.store.list_connectors() == []


def test_invalid_config_lists_every_error_and_stores_nothing(api: Api) -> None:
    reply = api.post("/connectors", {"name": "bad", "config": {"connector.class": "FileStreamSink", "tasks.max": "0"}})
    assert reply.status == 400
    message = reply.json["message"]
    assert message.startswith("The connector config has 3 error(s):")
    assert "Must configure one of topics or topics.regex" in message
    assert "tasks.max" in message
    assert message.endswith("`/connector-plugins/FileStreamSink/config/validate`")
    assert api.store.get_connector("bad") is None and api.changes == []


def test_missing_connector_class_is_400(api: Api) -> None:
    assert_error(api.post("/connectors", {"name": "x", "config": {"topics": "t"}}), 400, "contains no connector type")


def test_unknown_connector_class_is_500_with_closest_names(api: Api) -> None:
    reply = api.post("/connectors", {"name": "x", "config": {**SINK, "connector.class": "FileStreamSinc"}})
    assert_error(reply, 500, "Failed to find any class that implements Connector")
    assert "FileStreamSink" in reply.json["message"]
    assert api.store.list_connectors() == []


@pytest.mark.parametrize(("name", "fragment"), [
    ("", "String may not be empty"),
    ("a/b", "may not contain '/'"),
    ("x" * 181, "too long"),
    ("tab\there", "control"),
])
def test_bad_names_are_rejected(api: Api, name: str, fragment: str) -> None:
    reply = api.post("/connectors", {"name": name, "config": SINK})
    assert reply.status == 400 and fragment in reply.json["message"], reply.text
    assert api.store.list_connectors() == []


@pytest.mark.parametrize(("body", "fragment"), [
    (b"not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"name": "x", "config": {"topics": {"nested": 1}}}', "must be a string"),
    (b'{"name": "x", "config": {}, "bogus": 1}', 'Unrecognized field "bogus"'),
    (b'{"name": "x", "config": {"connector.class": "FileStreamSink", "topics": "t"}, "initial_state": "ASLEEP"}',
     "initial_state"),
])
def test_unbindable_bodies_are_400_where_kafka_answers_500(api: Api, body: bytes, fragment: str) -> None:
    reply = api.post("/connectors", raw=body)
    assert_error(reply, 400, fragment)
    assert api.store.list_connectors() == []


def test_scalar_values_are_coerced_to_strings(api: Api) -> None:
    reply = api.post("/connectors", {"name": "n", "config": {**SINK, "tasks.max": 3}})
    assert reply.status == 201
    assert reply.json["config"]["tasks.max"] == "3"


def test_oversized_body_is_413_and_stores_nothing(api: Api) -> None:
    big = {"name": "big", "config": {**SINK, "padding": "x" * (256 * 1024)}}
    assert_error(api.post("/connectors", big), 413, "larger than the limit of 262144 bytes")
    assert api.store.list_connectors() == []


def test_get_connector_config_and_list(api: Api) -> None:
    api.create("b")
    api.create("a", SOURCE)
    assert api.get("/connectors").json == ["a", "b"]
    assert api.get("/connectors/a").json["type"] == "source"
    assert api.get("/connectors/b/config").json == {**SINK, "name": "b"}
    assert_error(api.get("/connectors/zzz"), 404, "Connector zzz not found")
    assert_error(api.get("/connectors/zzz/config"), 404, "Connector zzz not found")


def test_list_expand_status_and_info(api: Api) -> None:
    api.create("a")
    both = api.get("/connectors?expand=status&expand=info").json
    assert set(both["a"]) == {"status", "info"}
    assert both["a"]["status"]["name"] == "a" and both["a"]["info"]["type"] == "sink"
    only = api.get("/connectors?expand=info&expand=unknown").json
    assert set(only["a"]) == {"info"}


def test_initial_state_paused_and_stopped(api: Api) -> None:
    api.create("p", initial_state="paused")
    api.create("s", initial_state="STOPPED")
    assert api.get("/connectors/p/status").json["connector"]["state"] == "PAUSED"
    stopped = api.get("/connectors/s/status").json
    assert stopped["connector"]["state"] == "STOPPED" and stopped["tasks"] == []
    assert api.get("/connectors/s").json["tasks"] == []


# --- config updates -----------------------------------------------------------------------------
def test_put_config_creates_201_then_replaces_200(api: Api) -> None:
    first = api.put("/connectors/pc/config", SINK)
    assert first.status == 201 and first.headers["Location"] == "/connectors/pc"
    second = api.put("/connectors/pc/config", {**SINK, "tasks.max": "1", "file": "/tmp/other.txt"})
    assert second.status == 200
    assert second.json["config"]["file"] == "/tmp/other.txt" and len(second.json["tasks"]) == 1
    assert api.store.get_connector("pc").version == 2


def test_put_config_is_a_whole_replacement(api: Api) -> None:
    api.create("r", {**SINK, "errors.tolerance": "all"})
    api.put("/connectors/r/config", SINK)
    assert "errors.tolerance" not in api.get("/connectors/r/config").json


def test_put_config_with_other_name_is_400(api: Api) -> None:
    assert_error(api.put("/connectors/x/config", {**SINK, "name": "y"}), 400, "doesn't match connector name")


def test_put_invalid_config_leaves_the_stored_one(api: Api) -> None:
    api.create("keep")
    both = {"connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b"}
    reply = api.put("/connectors/keep/config", both)
    assert reply.status == 400
    assert "topics and topics.regex are mutually exclusive options, but both are set." in reply.json["message"]
    assert api.get("/connectors/keep/config").json == {**SINK, "name": "keep"}


def test_patch_merges_and_null_removes(api: Api) -> None:
    api.create("pt", {**SINK, "errors.tolerance": "all"})
    reply = api.patch("/connectors/pt/config", {"tasks.max": "1", "errors.tolerance": None})
    assert reply.status == 200
    config = reply.json["config"]
    assert config["tasks.max"] == "1" and "errors.tolerance" not in config and config["topics"] == "orders"


def test_patch_unknown_is_404_and_invalid_is_400(api: Api) -> None:
    assert_error(api.patch("/connectors/none/config", {"tasks.max": "1"}), 404, "Connector none not found")
    api.create("pv")
    assert_error(api.patch("/connectors/pv/config", {"tasks.max": "-1"}), 400, "The connector config has")
    assert api.get("/connectors/pv/config").json["tasks.max"] == "2"


def test_a_stale_write_is_409(api: Api) -> None:
    api.create("race")
    service = api.handler.router.service
    real = service.store.update_connector

    def lose_the_race(name: str, config: Any, *, expected_version: int | None = None) -> Any:
        service.store.set_target_state(name, "PAUSED")  # someone else wins meanwhile
        return real(name, config, expected_version=expected_version)

    service.store.update_connector = lose_the_race
    reply = api.put("/connectors/race/config", {**SINK, "tasks.max": "1"})
    assert_error(reply, 409, "stale configuration")
    assert api.get("/connectors/race/config").json["tasks.max"] == "2"


# --- status, tasks, lifecycle -------------------------------------------------------------------
def test_status_combines_target_reconciler_and_task_reports(api: Api) -> None:
    api.create("st")
    status = api.get("/connectors/st/status").json
    assert status["connector"] == {"state": "UNASSIGNED", "worker_id": "connector-api"}
    api.store.put_connector_status("st", StatusEntry("RUNNING", "reconciler", None, 1.0))
    api.store.put_task_status("st", 1, StatusEntry("FAILED", "sink-task", "Traceback: boom", 2.0))
    status = api.get("/connectors/st/status").json
    assert status["type"] == "sink"
    assert status["connector"] == {"state": "RUNNING", "worker_id": "reconciler"}
    assert status["tasks"][0] == {"id": 0, "state": "RUNNING", "worker_id": "connector-api"}
    assert status["tasks"][1] == {"id": 1, "state": "FAILED", "worker_id": "sink-task", "trace": "Traceback: boom"}
    assert api.get("/connectors/st/tasks/1/status").json["state"] == "FAILED"
    assert_error(api.get("/connectors/st/tasks/7/status"), 404, "No status found for task st-7")
    assert_error(api.get("/connectors/zz/status"), 404, "No status found for connector zz")


def test_failed_connector_shows_trace(api: Api) -> None:
    api.create("f")
    api.store.put_connector_status("f", StatusEntry("FAILED", "reconciler", "ResourceConflictException", 1.0))
    connector = api.get("/connectors/f/status").json["connector"]
    assert connector == {"state": "FAILED", "worker_id": "reconciler", "trace": "ResourceConflictException"}


def test_tasks_are_tasks_max_copies_for_sinks(api: Api) -> None:
    api.create("tk")
    tasks = api.get("/connectors/tk/tasks").json
    assert [t["id"] for t in tasks] == [{"connector": "tk", "task": 0}, {"connector": "tk", "task": 1}]
    assert all(t["config"] == {**SINK, "name": "tk"} for t in tasks)
    stored = api.store.get_task_configs("tk")
    assert stored is not None and len(stored.configs) == 2
    assert_error(api.get("/connectors/none/tasks"), 404, "not found")


def test_source_tasks_come_from_the_source_runtime(api: Api) -> None:
    api.create("src", SOURCE)
    assert api.get("/connectors/src/tasks").json == []
    version = api.store.get_connector("src").version
    api.store.put_task_configs("src", version, [{**SOURCE, "name": "src", "task.id": "0"}])
    tasks = api.get("/connectors/src/tasks").json
    assert tasks == [{"id": {"connector": "src", "task": 0}, "config": {**SOURCE, "name": "src", "task.id": "0"}}]
    assert api.get("/connectors/src/status").json["tasks"] == [
        {"id": 0, "state": "UNASSIGNED", "worker_id": "connector-api"}
    ]


def test_plain_restart_is_204_and_records_restarting(api: Api) -> None:
    api.create("rs")
    reply = api.post("/connectors/rs/restart")
    assert reply.status == 204 and reply.text == ""
    assert api.store.get_connector_status("rs").state == "RESTARTING"
    assert api.get("/connectors/rs/status").json["connector"]["state"] == "RESTARTING"


def test_restart_only_failed_tasks_is_202_with_snapshot(api: Api) -> None:
    api.create("rf")
    api.store.put_connector_status("rf", StatusEntry("RUNNING", "reconciler", None, 1.0))
    api.store.put_task_status("rf", 0, StatusEntry("FAILED", "w", "trace", 1.0))
    reply = api.post("/connectors/rf/restart?includeTasks=true&onlyFailed=true")
    assert reply.status == 202
    snapshot = reply.json
    assert snapshot["connector"]["state"] == "RUNNING"
    assert [t["state"] for t in snapshot["tasks"]] == ["RESTARTING", "RUNNING"]
    assert api.store.get_task_statuses("rf")[0].state == "RESTARTING"
    assert api.store.get_connector_status("rf").state == "RUNNING"


def test_restart_with_flags_on_healthy_connector_is_still_202(api: Api) -> None:
    api.create("ok")
    api.store.put_connector_status("ok", StatusEntry("RUNNING", "reconciler", None, 1.0))
    reply = api.post("/connectors/ok/restart?onlyFailed=true")
    assert reply.status == 202 and reply.json["connector"]["state"] == "RUNNING"


@pytest.mark.parametrize("query", ["", "?includeTasks=true", "?onlyFailed=true&includeTasks=true"])
def test_restart_unknown_is_404(api: Api, query: str) -> None:
    assert_error(api.post(f"/connectors/ghost/restart{query}"), 404, "ghost")


def test_task_restart(api: Api) -> None:
    api.create("tr")
    assert api.post("/connectors/tr/tasks/1/restart").status == 204
    assert api.store.get_task_statuses("tr")[1].state == "RESTARTING"
    assert_error(api.post("/connectors/tr/tasks/5/restart"), 404, "Unknown task: tr-5")
    assert_error(api.post("/connectors/none/tasks/0/restart"), 404, "none")


def test_pause_resume_stop_are_idempotent_with_kafka_codes(api: Api) -> None:
    api.create("life")
    for _ in range(2):
        reply = api.put("/connectors/life/pause")
        assert reply.status == 202 and reply.text == ""
    status = api.get("/connectors/life/status").json
    assert status["connector"]["state"] == "PAUSED" and {t["state"] for t in status["tasks"]} == {"PAUSED"}
    assert api.put("/connectors/life/stop").status == 204
    assert api.put("/connectors/life/stop").status == 204
    assert api.get("/connectors/life/tasks").json == []
    assert api.store.get_task_configs("life") is None
    assert api.get("/connectors/life").json["tasks"] == []
    assert api.put("/connectors/life/resume").status == 202
    assert len(api.get("/connectors/life/tasks").json) == 2
    assert api.store.get_connector("life").target_state == "RUNNING"
    for verb in ("pause", "resume", "stop"):
        assert_error(api.put(f"/connectors/none/{verb}"), 404, "none")


def test_delete_is_204_then_404(api: Api) -> None:
    api.create("del")
    assert api.delete("/connectors/del").status == 204
    assert api.store.get_connector("del") is None
    assert_error(api.delete("/connectors/del"), 404, "Connector del not found")
    assert api.changes == ["del", "del"]


# --- topics -------------------------------------------------------------------------------------
def test_active_topics_and_reset(api: Api) -> None:
    api.create("tp")
    api.store.add_active_topics("tp", ["b", "a"])
    assert api.get("/connectors/tp/topics").json == {"tp": {"topics": ["a", "b"]}}
    assert api.put("/connectors/tp/topics/reset").status == 202
    assert api.get("/connectors/tp/topics").json == {"tp": {"topics": []}}
    assert api.get("/connectors/unknown/topics").json == {"unknown": {"topics": []}}
    reset = api.put("/connectors/unknown/topics/reset")  # Kafka does not look the connector up
    assert reset.status == 202 and reset.text == ""


# --- offsets ------------------------------------------------------------------------------------
def test_source_offsets_get_alter_reset(api: Api) -> None:
    api.create("so", SOURCE)
    api.store.commit_offsets("so", [({"filename": "/tmp/a"}, {"position": 10})])
    assert api.get("/connectors/so/offsets").json == {
        "offsets": [{"partition": {"filename": "/tmp/a"}, "offset": {"position": 10}}]
    }
    body = {"offsets": [{"partition": {"filename": "/tmp/a"}, "offset": {"position": 3}}]}
    assert_error(api.patch("/connectors/so/offsets", body), 400,
                 "Offsets can be changed only while the connector is STOPPED")
    api.put("/connectors/so/stop")
    reply = api.patch("/connectors/so/offsets", body)
    assert reply.status == 200
    assert reply.json == {"message": "The offsets for this connector have been altered successfully"}
    assert api.store.get_offset("so", {"filename": "/tmp/a"}) == {"position": 3}
    bad = {"offsets": [{"partition": {"filename": "/tmp/a"}, "offset": {"position": -1}}]}
    assert_error(api.patch("/connectors/so/offsets", bad), 400, "non-negative integer")
    assert api.store.get_offset("so", {"filename": "/tmp/a"}) == {"position": 3}
    null = {"offsets": [{"partition": {"filename": "/tmp/a"}, "offset": None}]}
    assert api.patch("/connectors/so/offsets", null).status == 200
    assert api.get("/connectors/so/offsets").json == {"offsets": []}
    api.store.commit_offsets("so", [({"filename": "/tmp/b"}, {"position": 1})])
    reply = api.delete("/connectors/so/offsets")
    assert reply.status == 200 and "reset successfully" in reply.json["message"]
    assert api.store.get_offsets("so") == []


def test_offsets_body_errors(api: Api) -> None:
    api.create("ob", initial_state="STOPPED")
    assert_error(api.patch("/connectors/ob/offsets", {"offsets": []}), 400, "An alter-offsets request must list")
    assert_error(api.patch("/connectors/ob/offsets", {}), 400, "An alter-offsets request must list")
    assert_error(api.patch("/connectors/ob/offsets", {"offsets": [], "x": 1}), 400, 'Unrecognized field "x"')
    cases = [
        ({"offset": {"kafka_offset": 1}}, "needs a partition object"),
        ({"partition": {"kafka_topic": "t"}, "offset": {"kafka_offset": 1}}, "'kafka_topic' and 'kafka_partition'"),
        ({"partition": {"kafka_topic": "t", "kafka_partition": "x"}, "offset": {"kafka_offset": 1}},
         "a sink connector's partitions are whole numbers"),
        ({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"other": 1}},
         "should either be null or contain the key 'kafka_offset'"),
        ({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": "1.5"}},
         "a sink connector's offsets are whole numbers"),
    ]
    for entry, fragment in cases:
        assert_error(api.patch("/connectors/ob/offsets", {"offsets": [entry]}), 400, fragment)
    assert api.offsets.groups == {}
    assert_error(api.get("/connectors/none/offsets"), 404, "none")
    assert_error(api.delete("/connectors/none/offsets"), 404, "none")


def test_sink_offsets_live_in_the_consumer_groups(api: Api) -> None:
    api.create("sk", initial_state="STOPPED")
    api.offsets.groups["connect-sk"] = {("orders", 0): 41, ("orders", 1): 7}
    api.offsets.groups["connect-other"] = {("orders", 0): 999}
    assert api.get("/connectors/sk/offsets").json == {"offsets": [
        {"partition": {"kafka_topic": "orders", "kafka_partition": 0}, "offset": {"kafka_offset": 41}},
        {"partition": {"kafka_topic": "orders", "kafka_partition": 1}, "offset": {"kafka_offset": 7}},
    ]}
    body = {"offsets": [
        {"partition": {"kafka_topic": "orders", "kafka_partition": "0"}, "offset": {"kafka_offset": "10"}},
        {"partition": {"kafka_topic": "orders", "kafka_partition": 1}, "offset": None},
    ]}
    reply = api.patch("/connectors/sk/offsets", body)
    assert reply.status == 200
    assert reply.json["message"].startswith(
        "The offsets lambda-connect keeps for this connector have been altered successfully"
    )
    assert api.offsets.groups["connect-sk"] == {("orders", 0): 10, ("orders", 1): 0}
    assert api.delete("/connectors/sk/offsets").status == 200
    assert "connect-sk" not in api.offsets.groups and "connect-other" in api.offsets.groups


def test_sink_offsets_follow_the_recorded_consumer_groups(api: Api) -> None:
    api.create("multi", {**SINK, "topics": "a,b"}, initial_state="STOPPED")
    api.store.put_resources("multi", {"consumer_groups": {"a": "connect-multi-a", "b": "connect-multi-b"}})
    body = {"offsets": [{"partition": {"kafka_topic": "b", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]}
    assert api.patch("/connectors/multi/offsets", body).status == 200
    assert api.offsets.groups == {"connect-multi-b": {("b", 0): 5}}
    assert api.get("/connectors/multi/offsets").json["offsets"][0]["offset"] == {"kafka_offset": 5}


# --- plugins and validation ---------------------------------------------------------------------
def test_connector_plugins(api: Api) -> None:
    connectors = api.get("/connector-plugins").json
    classes = {p["class"] for p in connectors}
    assert "org.apache.kafka.connect.file.FileStreamSinkConnector" in classes
    assert {p["type"] for p in connectors} <= {"source", "sink"}
    everything = api.get("/connector-plugins?connectorsOnly=false").json
    types = {p["type"] for p in everything}
    assert {"converter", "transformation", "predicate", "header_converter"} <= types
    assert len(everything) == len({(p["class"], p["type"]) for p in everything})


def test_plugin_config_for_connectors_and_transforms(api: Api) -> None:
    keys = {k["name"]: k for k in api.get("/connector-plugins/FileStreamSink/config").json}
    assert {"file", "topics", "connector.class", "tasks.max"} <= set(keys)
    assert "order" in keys["file"] and "order_in_group" not in keys["file"]
    smt = api.get("/connector-plugins/org.apache.kafka.connect.transforms.InsertField$Value/config").json
    assert "topic.field" in {k["name"] for k in smt}
    reply = api.get("/connector-plugins/FileStreamSinq/config")
    assert_error(reply, 404, "Unknown plugin FileStreamSinq.")
    assert "FileStreamSink" in reply.json["message"]


def test_validate_returns_200_with_errors_and_stores_nothing(api: Api) -> None:
    body = {"connector.class": "FileStreamSink", "name": "v", "topics": "a", "topics.regex": "b",
            "errors.deadletterqueue.topic.name": "a"}
    reply = api.put("/connector-plugins/FileStreamSinkConnector/config/validate", body)
    assert reply.status == 200
    infos = reply.json
    assert infos["name"] == "FileStreamSink" and infos["error_count"] == 3
    assert infos["groups"][:4] == ["Common", "Transforms", "Predicates", "Error Handling"]
    assert api.store.list_connectors() == []


def test_validate_hides_passwords_and_checks_the_path(api: Api) -> None:
    body = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "name": "j", "topics": "t",
            "connection.url": "jdbc:sqlite:/tmp/x.db", "connection.password": "hunter2"}
    reply = api.put("/connector-plugins/JdbcSinkConnector/config/validate", body)
    assert reply.status == 200 and "hunter2" not in reply.text
    values = {c["value"]["name"]: c["value"] for c in reply.json["configs"]}
    assert values["connection.password"]["value"] == "[hidden]"
    mismatch = api.put("/connector-plugins/FileStreamSink/config/validate", body)
    assert_error(mismatch, 400, "Included connector type io.confluent.connect.jdbc.JdbcSinkConnector does not match")
    assert_error(api.put("/connector-plugins/FileStreamSink/config/validate", {"topics": "t"}), 500,
                 "contains no connector type")


# --- event shapes -------------------------------------------------------------------------------
def test_checked_in_events_drive_the_handler(api: Api) -> None:
    create = api.handler(load_event("api-create-connector.json"), None)
    assert create["statusCode"] == 201
    put = api.handler(load_event("api-put-config-base64.json"), None)
    assert put["statusCode"] == 200
    listing = api.handler(load_event("api-list-connectors.json"), None)
    assert json.loads(listing["body"])["orders-file-sink"]["info"]["type"] == "sink"
    status = api.handler(load_event("api-connector-status.json"), None)
    assert json.loads(status["body"])["name"] == "orders-file-sink"
    restart = api.handler(load_event("api-restart-failed.json"), None)
    assert restart["statusCode"] == 202
    assert api.handler(load_event("api-delete-connector.json"), None)["statusCode"] == 204


def test_base64_bodies_are_decoded(api: Api) -> None:
    reply = api.post("/connectors", {"name": "b64", "config": SINK}, base64_body=True)
    assert reply.status == 201 and reply.json["name"] == "b64"
