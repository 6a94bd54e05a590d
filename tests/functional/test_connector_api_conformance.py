"""Kafka Connect REST conformance, row by row of reference §1.2, through ``functions/connector_api/app.py``.

Each case is one HTTP API payload 2.0 event sent to the real Lambda handler module (its
state store swapped for a fresh memory or SQLite one): the status code, the
``Content-Type``, the exact top-level shape of the body and the message text are what
Kafka Connect tooling and black-box checks look at, so those are what is asserted.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.rest.http_api import build_handler
from lambda_connect.runtime.secrets import LocalFileSecretStore
from lambda_connect.state import StatusEntry, open_store

from tests.unit.rest.api_events import ApiClient, FakeSinkOffsets, LambdaContext, Reply

ROOT = Path(__file__).parents[2]
SINK = {"connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/unused.txt", "tasks.max": "2"}
SOURCE = {"connector.class": "FileStreamSource", "topic": "lines", "file": "/tmp/unused-in.txt"}
INFO_KEYS = {"name", "config", "tasks", "type"}
STATUS_KEYS = {"name", "connector", "tasks", "type"}
NOT_STOPPED = (
    "Offsets can be changed only while the connector is STOPPED: stop it first with "
    "'PUT /connectors/{c}/stop'"
)


def _load_app() -> Any:
    """The handler module exactly as Lambda imports it (``app.lambda_handler``)."""
    spec = importlib.util.spec_from_file_location("connector_api_app", ROOT / "functions/connector_api/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Api(ApiClient):
    def __init__(self, app: Any, store: Any) -> None:
        super().__init__(app.lambda_handler, LambdaContext())
        self.app = app
        self.store = store

    def snapshot(self) -> dict[str, Any]:
        """Everything a write could change, to prove a refused request changed nothing."""
        out: dict[str, Any] = {}
        for name in self.store.list_connectors():
            entry = self.store.get_connector(name)
            tasks = self.store.get_task_configs(name)
            out[name] = (entry.config, entry.version, entry.target_state,
                         None if tasks is None else tasks.configs, self.store.get_offsets(name))
        return out


@pytest.fixture(params=["memory", "sqlite"])
def api(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", "memory://")
    monkeypatch.setenv("LAMBDA_CONNECT_SECRETS", f"file:{tmp_path}/secrets.json")
    monkeypatch.delenv("LAMBDA_CONNECT_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "lambda-connect")
    app = _load_app()
    store = open_store("memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/state.db")
    app.HANDLER = build_handler(store, LocalFileSecretStore(tmp_path / "secrets.json"), FakeSinkOffsets(),
                                {"AWS_LAMBDA_FUNCTION_NAME": "connector-api"})
    client = Api(app, store)
    _seed(client)
    yield client
    store.close()
    sys.modules.pop("connector_api_app", None)


def _seed(api: Api) -> None:
    """orders: running sink whose task 1 failed; lines: source with one offset; parked: stopped sink."""
    for body in ({"name": "orders", "config": SINK}, {"name": "lines", "config": SOURCE},
                 {"name": "parked", "config": SINK, "initial_state": "STOPPED"}):
        assert api.post("/connectors", body).status == 201
    api.store.put_connector_status("orders", StatusEntry("RUNNING", "reconciler", None, 1.0))
    api.store.put_task_status("orders", 1, StatusEntry("FAILED", "sink-task", "Traceback: boom", 2.0))
    api.store.commit_offsets("lines", [({"filename": "/tmp/unused-in.txt"}, {"position": 7})])
    api.store.add_active_topics("orders", ["orders"])


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    target: str
    status: int
    body: Any = None
    keys: set[str] | None = None  # exact top-level keys of a JSON object body
    check: Callable[[Any], bool] | None = None  # anything else about the body
    message: str | None = None  # exact error message (error bodies)
    fragment: str | None = None  # part of the error message
    empty: bool = False  # no body at all
    headers: dict[str, str] = field(default_factory=dict)


def _is_list_of(keys: set[str]) -> Callable[[Any], bool]:
    return lambda body: isinstance(body, list) and bool(body) and all(set(item) == keys for item in body)


CASES = [
    Case("root", "GET", "/", 200, keys={"version", "commit", "kafka_cluster_id"}),
    Case("health", "GET", "/health", 200, keys={"status", "message"},
         check=lambda b: b == {"status": "healthy",
                               "message": "The worker has started and is serving requests."}),
    Case("list", "GET", "/connectors", 200, check=lambda b: sorted(b) == ["lines", "orders", "parked"]),
    Case("list-expand-status", "GET", "/connectors?expand=status", 200,
         check=lambda b: set(b) == {"lines", "orders", "parked"} and all(set(v) == {"status"} for v in b.values())
         and set(b["orders"]["status"]) == STATUS_KEYS),
    Case("list-expand-info", "GET", "/connectors?expand=info", 200,
         check=lambda b: all(set(v) == {"info"} for v in b.values()) and set(b["lines"]["info"]) == INFO_KEYS),
    Case("list-expand-both", "GET", "/connectors?expand=status&expand=info", 200,
         check=lambda b: all(set(v) == {"status", "info"} for v in b.values())),
    Case("list-expand-unknown", "GET", "/connectors?expand=nothing", 200,
         check=lambda b: b == {"lines": {}, "orders": {}, "parked": {}}),
    Case("create", "POST", "/connectors", 201, {"name": "fresh", "config": SINK}, keys=INFO_KEYS,
         check=lambda b: b["name"] == "fresh" and b["type"] == "sink" and b["config"]["name"] == "fresh",
         headers={"Location": "/connectors/fresh"}),
    Case("create-exists", "POST", "/connectors", 409, {"name": "orders", "config": SINK},
         message="Connector orders already exists"),
    Case("create-name-mismatch", "POST", "/connectors", 400, {"name": "a", "config": {**SINK, "name": "b"}},
         message="Connector name configuration (b) doesn't match connector name in the URL (a)"),
    Case("create-invalid", "POST", "/connectors", 400,
         {"name": "bad", "config": {"connector.class": "FileStreamSink", "topics": "a", "topics.regex": "b"}},
         message="The connector config has 2 error(s):\n"
                 "topics and topics.regex are mutually exclusive options, but both are set.\n"  # on topics
                 "topics and topics.regex are mutually exclusive options, but both are set.\n"  # on topics.regex
                 "You can also find the above list of errors at the endpoint "
                 "`/connector-plugins/FileStreamSink/config/validate`"),
    Case("create-no-class", "POST", "/connectors", 400, {"name": "x", "config": {"topics": "t"}},
         message="Connector config {topics=t, name=x} contains no connector type"),
    Case("create-unknown-class", "POST", "/connectors", 500,
         {"name": "x", "config": {**SINK, "connector.class": "com.example.NoSuchConnector"}},
         fragment="Failed to find any class that implements Connector and which name matches "
                  "com.example.NoSuchConnector"),
    Case("get", "GET", "/connectors/orders", 200, keys=INFO_KEYS,
         check=lambda b: b["tasks"] == [{"connector": "orders", "task": 0}, {"connector": "orders", "task": 1}]),
    Case("get-unknown", "GET", "/connectors/ghost", 404, message="Connector ghost not found"),
    Case("get-config", "GET", "/connectors/orders/config", 200, check=lambda b: b == {**SINK, "name": "orders"}),
    Case("get-config-unknown", "GET", "/connectors/ghost/config", 404, message="Connector ghost not found"),
    Case("put-config-create", "PUT", "/connectors/fresh/config", 201, SINK, keys=INFO_KEYS,
         headers={"Location": "/connectors/fresh"}),
    Case("put-config-update", "PUT", "/connectors/orders/config", 200, {**SINK, "tasks.max": "1"}, keys=INFO_KEYS,
         check=lambda b: b["config"]["tasks.max"] == "1" and len(b["tasks"]) == 1),
    Case("put-config-mismatch", "PUT", "/connectors/orders/config", 400, {**SINK, "name": "other"},
         message="Connector name configuration (other) doesn't match connector name in the URL (orders)"),
    Case("put-config-invalid", "PUT", "/connectors/orders/config", 400, {**SINK, "tasks.max": "0"},
         fragment="The connector config has 1 error(s):\n"),
    Case("patch-config", "PATCH", "/connectors/orders/config", 200, {"tasks.max": "1", "file": None},
         keys=INFO_KEYS, check=lambda b: b["config"]["tasks.max"] == "1" and "file" not in b["config"]),
    Case("patch-config-unknown", "PATCH", "/connectors/ghost/config", 404, {"tasks.max": "1"},
         message="Connector ghost not found"),
    Case("patch-config-invalid", "PATCH", "/connectors/orders/config", 400, {"topics.regex": "o.*"},
         fragment="topics and topics.regex are mutually exclusive options, but both are set."),
    Case("status", "GET", "/connectors/orders/status", 200, keys=STATUS_KEYS,
         check=lambda b: b["connector"] == {"state": "RUNNING", "worker_id": "reconciler"} and b["tasks"] == [
             {"id": 0, "state": "RUNNING", "worker_id": "connector-api"},
             {"id": 1, "state": "FAILED", "worker_id": "sink-task", "trace": "Traceback: boom"}]),
    Case("status-unknown", "GET", "/connectors/ghost/status", 404, message="No status found for connector ghost"),
    Case("tasks", "GET", "/connectors/orders/tasks", 200, check=_is_list_of({"id", "config"})),
    Case("tasks-unknown", "GET", "/connectors/ghost/tasks", 404, message="Connector ghost not found"),
    Case("tasks-config", "GET", "/connectors/orders/tasks-config", 200,
         check=lambda b: b == {"orders-0": {**SINK, "name": "orders"}, "orders-1": {**SINK, "name": "orders"}}),
    Case("tasks-config-unknown", "GET", "/connectors/ghost/tasks-config", 404, message="Connector ghost not found"),
    Case("task-status", "GET", "/connectors/orders/tasks/1/status", 200, keys={"id", "state", "worker_id", "trace"},
         check=lambda b: b["state"] == "FAILED"),
    Case("task-status-unknown", "GET", "/connectors/orders/tasks/9/status", 404,
         message="No status found for task orders-9"),
    Case("task-status-not-a-number", "GET", "/connectors/orders/tasks/x/status", 404, message="HTTP 404 Not Found"),
    Case("restart", "POST", "/connectors/orders/restart", 204, empty=True),
    Case("restart-both-false", "POST", "/connectors/orders/restart?includeTasks=false&onlyFailed=false", 204,
         empty=True),
    Case("restart-include-tasks", "POST", "/connectors/orders/restart?includeTasks=true", 202, keys=STATUS_KEYS,
         check=lambda b: b["connector"]["state"] == "RESTARTING"
         and [t["state"] for t in b["tasks"]] == ["RESTARTING", "RESTARTING"]),
    Case("restart-only-failed", "POST", "/connectors/orders/restart?includeTasks=true&onlyFailed=true", 202,
         keys=STATUS_KEYS, check=lambda b: b["connector"]["state"] == "RUNNING"
         and [t["state"] for t in b["tasks"]] == ["RUNNING", "RESTARTING"]),
    Case("restart-only-failed-no-tasks", "POST", "/connectors/orders/restart?onlyFailed=true", 202,
         keys=STATUS_KEYS, check=lambda b: b["connector"]["state"] == "RUNNING"
         and [t["state"] for t in b["tasks"]] == ["RUNNING", "FAILED"]),
    Case("restart-unknown", "POST", "/connectors/ghost/restart", 404, fragment="ghost"),
    Case("restart-unknown-flags", "POST", "/connectors/ghost/restart?includeTasks=true&onlyFailed=true", 404,
         fragment="ghost"),
    Case("task-restart", "POST", "/connectors/orders/tasks/0/restart", 204, empty=True),
    Case("task-restart-unknown-task", "POST", "/connectors/orders/tasks/9/restart", 404,
         message="Unknown task: orders-9"),
    Case("task-restart-unknown", "POST", "/connectors/ghost/tasks/0/restart", 404, fragment="ghost"),
    Case("pause", "PUT", "/connectors/orders/pause", 202, empty=True),
    Case("pause-unknown", "PUT", "/connectors/ghost/pause", 404, message="Unknown connector ghost"),
    Case("resume", "PUT", "/connectors/parked/resume", 202, empty=True),
    Case("resume-unknown", "PUT", "/connectors/ghost/resume", 404, message="Unknown connector ghost"),
    Case("stop", "PUT", "/connectors/orders/stop", 204, empty=True),
    Case("stop-unknown", "PUT", "/connectors/ghost/stop", 404, message="Unknown connector ghost"),
    Case("delete", "DELETE", "/connectors/orders", 204, empty=True),
    Case("delete-unknown", "DELETE", "/connectors/ghost", 404, message="Connector ghost not found"),
    Case("topics", "GET", "/connectors/orders/topics", 200, check=lambda b: b == {"orders": {"topics": ["orders"]}}),
    Case("topics-unknown", "GET", "/connectors/ghost/topics", 200, check=lambda b: b == {"ghost": {"topics": []}}),
    Case("topics-reset", "PUT", "/connectors/orders/topics/reset", 202, empty=True),
    Case("offsets", "GET", "/connectors/lines/offsets", 200, check=lambda b: b == {
        "offsets": [{"partition": {"filename": "/tmp/unused-in.txt"}, "offset": {"position": 7}}]}),
    Case("offsets-unknown", "GET", "/connectors/ghost/offsets", 404, message="Connector ghost not found"),
    Case("offsets-patch", "PATCH", "/connectors/parked/offsets", 200,
         {"offsets": [{"partition": {"kafka_topic": "orders", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]},
         keys={"message"}),
    Case("offsets-patch-empty", "PATCH", "/connectors/parked/offsets", 400, {"offsets": []},
         message="An alter-offsets request must list at least one partition with its offset"),
    Case("offsets-patch-running", "PATCH", "/connectors/lines/offsets", 400,
         {"offsets": [{"partition": {"filename": "f"}, "offset": {"position": 1}}]},
         message=NOT_STOPPED.replace("{c}", "lines")),
    Case("offsets-patch-unknown", "PATCH", "/connectors/ghost/offsets", 404,
         {"offsets": [{"partition": {"filename": "f"}, "offset": None}]}, message="Connector ghost not found"),
    Case("offsets-delete", "DELETE", "/connectors/parked/offsets", 200, keys={"message"}),
    Case("offsets-delete-running", "DELETE", "/connectors/lines/offsets", 400,
         message=NOT_STOPPED.replace("{c}", "lines")),
    Case("offsets-delete-unknown", "DELETE", "/connectors/ghost/offsets", 404, message="Connector ghost not found"),
    Case("plugins", "GET", "/connector-plugins", 200,
         check=lambda b: {p["type"] for p in b} == {"source", "sink"}
         and all({"class", "type"} <= set(p) <= {"class", "type", "version"} for p in b)),
    Case("plugins-all", "GET", "/connector-plugins?connectorsOnly=false", 200,
         check=lambda b: {"source", "sink", "converter", "header_converter", "transformation", "predicate"}
         == {p["type"] for p in b}),
    Case("plugin-config", "GET", "/connector-plugins/FileStreamSinkConnector/config", 200,
         check=_is_list_of({"name", "type", "required", "default_value", "importance", "documentation", "group",
                            "order", "width", "display_name", "dependents"})),
    Case("plugin-config-unknown", "GET", "/connector-plugins/NoSuchThing/config", 404,
         fragment="Unknown plugin NoSuchThing."),
    Case("validate", "PUT", "/connector-plugins/FileStreamSinkConnector/config/validate", 200,
         {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "name": "v", "topics": "t"},
         keys={"name", "error_count", "groups", "configs"},
         check=lambda b: b["error_count"] == 0
         and b["name"] == "org.apache.kafka.connect.file.FileStreamSinkConnector"),
    Case("validate-mismatch", "PUT", "/connector-plugins/FileStreamSource/config/validate", 400,
         {"connector.class": "FileStreamSink", "name": "v", "topics": "t"},
         message="Included connector type FileStreamSink does not match request type FileStreamSource"),
    Case("validate-no-class", "PUT", "/connector-plugins/FileStreamSink/config/validate", 500,
         {"name": "v", "topics": "t"}, fragment="contains no connector type"),
    Case("unknown-path", "GET", "/nowhere", 404, message="HTTP 404 Not Found"),
    Case("wrong-method", "DELETE", "/connector-plugins", 405, message="HTTP 405 Method Not Allowed"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_endpoint_row(api: Api, case: Case) -> None:
    reply = api.call(case.method, case.target, case.body)
    assert reply.status == case.status, reply.text
    assert reply.headers.get("Content-Type") == "application/json"
    for name, value in case.headers.items():
        assert reply.headers.get(name) == value
    if case.empty:
        assert reply.text == ""
        return
    body = reply.json
    if case.status >= 400:
        assert set(body) == {"error_code", "message"} and body["error_code"] == case.status
        if case.message is not None:
            assert body["message"] == case.message
        if case.fragment is not None:
            assert case.fragment in body["message"], body["message"]
    if case.keys is not None:
        assert set(body) == case.keys, body
    if case.check is not None:
        assert case.check(body), body


# --- effects behind the status codes (§1.4) -------------------------------------------------------
def _state(api: Api, name: str) -> tuple[str, list[str]]:
    status = api.get(f"/connectors/{name}/status").json
    return status["connector"]["state"], [t["state"] for t in status["tasks"]]


def test_restart_selection_is_recorded_for_the_workers(api: Api) -> None:
    api.post("/connectors/orders/restart?includeTasks=true&onlyFailed=true")
    assert _state(api, "orders") == ("RUNNING", ["RUNNING", "RESTARTING"])
    assert api.store.get_connector_status("orders").state == "RUNNING"


def test_lifecycle_states_follow_kip_875(api: Api) -> None:
    api.store.clear_task_statuses("orders")
    api.put("/connectors/orders/pause")
    assert _state(api, "orders") == ("PAUSED", ["PAUSED", "PAUSED"])
    api.put("/connectors/orders/stop")
    assert _state(api, "orders") == ("STOPPED", [])
    assert api.get("/connectors/orders/tasks").json == [] and api.get("/connectors/orders").json["tasks"] == []
    api.put("/connectors/orders/pause")  # pause of a stopped connector: PAUSED with no tasks
    assert _state(api, "orders") == ("PAUSED", [])
    api.put("/connectors/orders/resume")
    assert _state(api, "orders") == ("RUNNING", ["RUNNING", "RUNNING"])


def test_a_failed_connector_can_be_stopped_and_deleted(api: Api) -> None:
    api.store.put_connector_status("orders", StatusEntry("FAILED", "reconciler", "boom", 3.0))
    assert api.put("/connectors/orders/stop").status == 204
    assert _state(api, "orders") == ("STOPPED", [])
    assert api.delete("/connectors/orders").status == 204
    assert "orders" not in api.get("/connectors").json


@pytest.mark.parametrize("initial", ["paused", "Paused", "PAUSED"])
def test_initial_state_paused_is_case_insensitive_and_has_no_tasks(api: Api, initial: str) -> None:
    reply = api.post("/connectors", {"name": "p", "config": SINK, "initial_state": initial})
    assert reply.status == 201 and reply.json["tasks"] == []
    assert _state(api, "p") == ("PAUSED", [])
    assert api.get("/connectors/p/tasks").json == []
    api.put("/connectors/p/resume")  # tasks appear; UNASSIGNED until the reconciler reports
    assert _state(api, "p") == ("UNASSIGNED", ["UNASSIGNED", "UNASSIGNED"])
    assert len(api.get("/connectors/p/tasks").json) == 2


@pytest.mark.parametrize("initial", ["stopped", "Stopped", "running"])
def test_initial_state_other_values(api: Api, initial: str) -> None:
    assert api.post("/connectors", {"name": "i", "config": SINK, "initial_state": initial}).status == 201
    assert api.store.get_connector("i").target_state == initial.upper()


def test_offsets_alter_and_reset_answer_kafkas_messages(api: Api) -> None:
    body = {"offsets": [{"partition": {"kafka_topic": "orders", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]}
    reply = api.patch("/connectors/parked/offsets", body)
    assert reply.json == {"message": "The offsets lambda-connect keeps for this connector have been altered "
                                     "successfully. Positions the connector keeps elsewhere on its own (outside "
                                     "the state table and its target) are not altered: change them where it keeps "
                                     "them."}
    assert api.get("/connectors/parked/offsets").json["offsets"] == body["offsets"]
    reply = api.delete("/connectors/parked/offsets")
    assert reply.json["message"].startswith("The offsets lambda-connect keeps for this connector have been "
                                            "reset successfully.")
    assert api.get("/connectors/parked/offsets").json == {"offsets": []}


def test_deleting_a_connector_clears_its_active_topics(api: Api) -> None:
    api.delete("/connectors/orders")
    assert api.post("/connectors", {"name": "orders", "config": SINK}).status == 201
    assert api.get("/connectors/orders/topics").json == {"orders": {"topics": []}}


@pytest.mark.parametrize(("env", "target", "method", "message"), [
    ({"LAMBDA_CONNECT_TOPIC_TRACKING_ENABLE": "false"}, "/connectors/orders/topics", "GET",
     "Topic tracking is disabled."),
    ({"LAMBDA_CONNECT_TOPIC_TRACKING_ENABLE": "false"}, "/connectors/orders/topics/reset", "PUT",
     "Topic tracking is disabled."),
    ({"LAMBDA_CONNECT_TOPIC_TRACKING_ALLOW_RESET": "false"}, "/connectors/orders/topics/reset", "PUT",
     "Topic tracking reset is disabled."),
])
def test_topic_tracking_switched_off_is_403(api: Api, env: dict[str, str], target: str, method: str,
                                            message: str) -> None:
    service = api.app.HANDLER.router.service
    api.app.HANDLER = build_handler(service.store, service.secrets, service.sink_offsets, env)
    reply = api.call(method, target)
    assert (reply.status, reply.json) == (403, {"error_code": 403, "message": message})
    assert api.store.get_active_topics("orders") == {"orders"}


# --- transport: paths, methods, headers ------------------------------------------------------------
@pytest.mark.parametrize(("target", "expected"), [
    ("/connectors/", ["lines", "orders", "parked"]),
    ("/connectors/orders/config/", {**SINK, "name": "orders"}),
])
def test_one_trailing_slash_is_ignored(api: Api, target: str, expected: Any) -> None:
    reply = api.get(target)
    assert reply.status == 200 and reply.json == expected


@pytest.mark.parametrize("target", ["/connectors//status", "//connectors", "/connectors/orders//config"])
def test_empty_segments_match_nothing(api: Api, target: str) -> None:
    reply = api.get(target)
    assert (reply.status, reply.json["message"]) == (404, "HTTP 404 Not Found")


def test_url_encoded_names_round_trip(api: Api) -> None:
    reply = api.post("/connectors", {"name": "my conn", "config": SINK})
    assert reply.status == 201 and reply.headers["Location"] == "/connectors/my%20conn"
    assert api.get("/connectors/my%20conn").json["name"] == "my conn"
    assert api.get("/connectors/my%20conn/status").json["name"] == "my conn"
    put = api.put("/connectors/with%20space%2Bplus/config", SINK)
    assert put.status == 201 and put.headers["Location"] == "/connectors/with%20space%2Bplus"
    assert put.json["name"] == "with space+plus"
    assert api.delete("/connectors/my%20conn").status == 204
    assert "my conn" not in api.get("/connectors").json


def test_head_answers_like_get_without_a_body(api: Api) -> None:
    reply = api.call("HEAD", "/connectors/orders")
    assert reply.status == 200 and reply.text == "" and reply.headers["Content-Type"] == "application/json"
    assert api.call("HEAD", "/connectors/ghost").status == 404
    assert api.call("HEAD", "/connectors/orders/restart").status == 405


@pytest.mark.parametrize(("target", "allow"), [
    ("/connectors", "GET, HEAD, OPTIONS, POST"),
    ("/connectors/orders", "DELETE, GET, HEAD, OPTIONS"),
    ("/connectors/orders/config", "GET, HEAD, OPTIONS, PATCH, PUT"),
    ("/connectors/orders/offsets", "DELETE, GET, HEAD, OPTIONS, PATCH"),
    ("/connectors/orders/pause", "OPTIONS, PUT"),
])
def test_options_lists_the_allowed_methods(api: Api, target: str, allow: str) -> None:
    reply = api.call("OPTIONS", target)
    assert (reply.status, reply.headers["Allow"], reply.text) == (204, allow, "")
    assert api.call("DELETE", "/connectors/orders/pause").headers["Allow"] == "OPTIONS, PUT"


def test_options_on_an_unknown_path_is_404(api: Api) -> None:
    assert api.call("OPTIONS", "/nowhere").status == 404


def test_every_route_answers_with_json_content_type(api: Api) -> None:
    from lambda_connect.rest.router import ROUTES

    for route in ROUTES:
        target = route.template.replace("{connector}", "orders").replace("{task}", "0").replace(
            "{plugin}", "FileStreamSink")
        reply = api.call(route.method, target, {} if route.request else None)
        assert reply.headers.get("Content-Type") == "application/json", (route.method, target, reply.status)


# --- bad input (issue 3 item 4): clear errors, stored state unchanged -----------------------------
BAD_INPUT = [
    ("empty-name", "POST", "/connectors", {"name": "", "config": SINK}, 400, "String may not be empty"),
    ("blank-name", "POST", "/connectors", {"name": "   ", "config": SINK}, 400, "String may not be empty"),
    ("missing-name", "POST", "/connectors", {"config": SINK}, 400, "String may not be empty"),
    ("long-name", "POST", "/connectors", {"name": "n" * 181, "config": SINK}, 400, "too long"),
    ("control-name", "POST", "/connectors", {"name": "a\u0007b", "config": SINK}, 400,
     "String may not contain control sequences"),
    ("slash-name", "POST", "/connectors", {"name": "a/b", "config": SINK}, 400, "may not contain '/'"),
    ("slash-name-put", "PUT", "/connectors/a%2Fb/config", SINK, 400, "may not contain '/'"),
    ("array-body", "POST", "/connectors", ["orders"], 400, "must be a JSON object"),
    ("string-body", "PUT", "/connectors/orders/config", "config", 400, "must be a JSON object"),
    ("null-body", "PATCH", "/connectors/orders/config", None, 400, "Request body is missing"),
    ("array-config", "POST", "/connectors", {"name": "n", "config": [1]}, 400, "must be a JSON object"),
    ("nested-value", "PUT", "/connectors/orders/config", {**SINK, "topics": ["a"]}, 400,
     "Configuration value of 'topics' must be a string, got array"),
    ("object-value", "PATCH", "/connectors/orders/config", {"tasks.max": {"n": 1}}, 400,
     "Configuration value of 'tasks.max' must be a string, got object"),
    ("object-name", "POST", "/connectors", {"name": {"a": 1}, "config": SINK}, 400, "Connector name must be"),
    ("null-value", "PUT", "/connectors/orders/config", {**SINK, "file": None}, 400,
     "A config value may not be null: give a string, or leave the key out"),
    ("unknown-field", "POST", "/connectors", {"name": "n", "config": SINK, "state": "x"}, 400,
     'Unrecognized field "state"'),
    ("bad-initial-state", "POST", "/connectors", {"name": "n", "config": SINK, "initial_state": "SLEEPING"}, 400,
     "initial_state"),
    ("unknown-plugin", "POST", "/connectors", {"name": "n", "config": {**SINK, "connector.class": "FileStreamSinc"}},
     500, "Closest known names: "),
    ("invalid-config", "PUT", "/connectors/orders/config", {**SINK, "errors.tolerance": "some"}, 400,
     "The connector config has 1 error(s):"),
    ("conflict", "POST", "/connectors", {"name": "lines", "config": SINK}, 409, "Connector lines already exists"),
    ("oversized", "POST", "/connectors", {"name": "n", "config": {**SINK, "pad": "x" * (256 * 1024)}}, 413,
     "larger than the limit of 262144 bytes"),
]


@pytest.mark.parametrize(("method", "target", "body", "status", "fragment"), [c[1:] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_and_changes_nothing(api: Api, method: str, target: str, body: Any, status: int,
                                                  fragment: str) -> None:
    before = api.snapshot()
    reply = api.call(method, target, body)
    assert reply.status == status, reply.text
    assert reply.json["error_code"] == status and fragment in reply.json["message"], reply.json["message"]
    assert api.snapshot() == before


def test_unknown_plugin_lists_the_closest_names(api: Api) -> None:
    reply = api.get("/connector-plugins/FileStreamSinc/config")
    assert reply.status == 404
    assert reply.json["message"].startswith("Unknown plugin FileStreamSinc. Closest known names: ")
    assert "FileStreamSink" in reply.json["message"]


def test_scalar_values_bind_as_strings_like_jackson(api: Api) -> None:
    reply = api.post("/connectors", {"name": 42, "config": {**SINK, "tasks.max": 1, "errors.log.enable": True}})
    assert reply.status == 201, reply.text
    assert api.store.get_connector("42").config["tasks.max"] == "1"
    assert api.store.get_connector("42").config["errors.log.enable"] == "true"


def test_a_lost_race_is_409_and_keeps_the_winner(api: Api) -> None:
    store = api.app.HANDLER.router.service.store
    real = store.update_connector

    def lose(name: str, config: Any, *, expected_version: int | None = None) -> Any:
        store.set_target_state(name, "PAUSED")  # another writer wins meanwhile
        return real(name, config, expected_version=expected_version)

    store.update_connector = lose
    reply = api.put("/connectors/orders/config", {**SINK, "tasks.max": "1"})
    assert reply.status == 409 and "stale configuration" in reply.json["message"]
    entry = store.get_connector("orders")
    assert entry.config["tasks.max"] == "2" and entry.target_state == "PAUSED"


# --- validate endpoint rules ---------------------------------------------------------------------
@pytest.mark.parametrize("path_name", [
    "FileStreamSink", "FileStreamSinkConnector", "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "file.FileStreamSink",
])
def test_validate_path_is_a_suffix_match(api: Api, path_name: str) -> None:
    body = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector", "name": "v", "topics": "t"}
    reply = api.put(f"/connector-plugins/{path_name}/config/validate", body)
    assert reply.status == 200 and reply.json["name"] == body["connector.class"]


def test_validate_reports_null_values_without_a_definition(api: Api) -> None:
    body = {"connector.class": "FileStreamSink", "name": "v", "topics": "t", "file": None}
    reply = api.put("/connector-plugins/FileStreamSink/config/validate", body)
    assert reply.status == 200 and reply.json["error_count"] == 1
    entries = [c for c in reply.json["configs"] if c["value"]["name"] == "file"]
    assert entries == [{"definition": None, "value": {
        "name": "file", "value": None, "recommended_values": [],
        "errors": ["A config value may not be null: give a string, or leave the key out"], "visible": True}}]


def test_validate_does_not_inject_the_path_plugin_and_stores_nothing(api: Api) -> None:
    before = api.snapshot()
    body = {"connector.class": "FileStreamSink", "name": "v", "topics": "t", "unknown.key": "ignored"}
    reply = api.put("/connector-plugins/FileStreamSink/config/validate", body)
    assert reply.json["name"] == "FileStreamSink"
    assert "unknown.key" not in {c["value"]["name"] for c in reply.json["configs"]}
    assert reply.json["groups"][:4] == ["Common", "Transforms", "Predicates", "Error Handling"]
    assert api.snapshot() == before


def test_validate_hides_password_values(api: Api) -> None:
    body = {"connector.class": "JdbcSinkConnector", "name": "j", "topics": "t",
            "connection.url": "jdbc:sqlite:/tmp/x.db", "connection.password": "hunter2"}
    reply = api.put("/connector-plugins/JdbcSinkConnector/config/validate", body)
    assert reply.status == 200 and "hunter2" not in reply.text
    values = {c["value"]["name"]: c["value"]["value"] for c in reply.json["configs"]}
    assert values["connection.password"] == "[hidden]"


# --- the OpenAPI document ------------------------------------------------------------------------
def test_openapi_document_is_valid_openapi_3_1_and_covers_every_route(api: Api) -> None:
    from lambda_connect.rest.router import ROUTES

    reply = api.get("/openapi.json")
    assert reply.status == 200
    doc = reply.json
    assert doc["openapi"] == "3.1.0" and {"title", "version"} <= set(doc["info"])
    for route in ROUTES:
        operation = doc["paths"][route.template][route.method.lower()]
        assert str(route.status) in operation["responses"]
        declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
        assert declared == {s[1:-1] for s in route.segments if s.startswith("{")}
    refs = {v for v in _walk(doc) if isinstance(v, str) and v.startswith("#/components/schemas/")}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(doc["components"]["schemas"])
    import openapi_spec_validator  # dev dependency

    openapi_spec_validator.validate(doc)


def _walk(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def test_responses_match_the_documented_schemas(api: Api) -> None:
    """The bodies the router answers fit the schemas the OpenAPI document publishes."""
    import jsonschema

    doc = api.get("/openapi.json").json
    checks = [("GET", "/connectors/orders", "/connectors/{connector}"),
              ("GET", "/connectors/orders/status", "/connectors/{connector}/status"),
              ("GET", "/connectors/orders/tasks", "/connectors/{connector}/tasks"),
              ("GET", "/connectors/orders/tasks-config", "/connectors/{connector}/tasks-config"),
              ("GET", "/connectors/orders/topics", "/connectors/{connector}/topics"),
              ("GET", "/connectors/lines/offsets", "/connectors/{connector}/offsets"),
              ("GET", "/connector-plugins", "/connector-plugins"),
              ("GET", "/connector-plugins/FileStreamSink/config", "/connector-plugins/{plugin}/config"),
              ("GET", "/connectors?expand=status&expand=info", "/connectors"),
              ("GET", "/", "/"), ("GET", "/health", "/health")]
    for method, target, template in checks:
        schema = doc["paths"][template][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
        reply: Reply = api.call(method, target)
        jsonschema.validate(reply.json, {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)


# --- /admin/loggers (KIP-495) ---------------------------------------------------------------------
@pytest.fixture
def namespace() -> Iterator[str]:
    """A logger tree of our own (loggers are process-wide), restored afterwards."""
    import logging
    import uuid

    name = f"lc_test_{uuid.uuid4().hex[:8]}"
    child = logging.getLogger(f"{name}.child")
    yield name
    for logger in (logging.getLogger(name), child):
        logger.setLevel(logging.NOTSET)


def test_logger_levels_round_trip(api: Api, namespace: str) -> None:
    import logging

    listing = api.get("/admin/loggers")
    assert listing.status == 200 and set(listing.json["root"]) == {"level", "last_modified"}
    assert namespace not in listing.json
    reply = api.put(f"/admin/loggers/{namespace}", {"level": "debug"})
    assert (reply.status, reply.json) == (200, [namespace, f"{namespace}.child"])
    assert logging.getLogger(f"{namespace}.child").isEnabledFor(logging.DEBUG)
    level = api.get(f"/admin/loggers/{namespace}").json
    assert level["level"] == "DEBUG" and isinstance(level["last_modified"], int)
    assert api.get("/admin/loggers").json[namespace] == level
    api.put(f"/admin/loggers/{namespace}", {"level": "DEBUG"})  # unchanged: last_modified stays
    assert api.get(f"/admin/loggers/{namespace}").json == level
    assert api.put(f"/admin/loggers/{namespace}.child?scope=nonsense", {"level": "WARN"}).json == [
        f"{namespace}.child"]
    assert api.get(f"/admin/loggers/{namespace}.child").json["level"] == "WARN"


@pytest.mark.parametrize(("target", "body", "status", "message"), [
    ("/admin/loggers/{ns}", {"levels": "DEBUG"}, 400, "The request body must give the new log level as 'level'"),
    ("/admin/loggers/{ns}", {"level": "HIGH"}, 404, "invalid log level 'HIGH'."),
    ("/admin/loggers/{ns}?scope=cluster", {"level": "INFO"}, 400, "Cluster-scoped logger changes are not supported"),
    ("/admin/loggers/{ns}", ["INFO"], 400, "must be a JSON object"),
])
def test_logger_level_errors_change_nothing(api: Api, namespace: str, target: str, body: Any, status: int,
                                            message: str) -> None:
    import logging

    reply = api.put(target.format(ns=namespace), body)
    assert reply.status == status and message in reply.json["message"], reply.text
    assert logging.getLogger(namespace).level == logging.NOTSET


def test_unknown_logger_is_404(api: Api) -> None:
    reply = api.get("/admin/loggers/no.such.logger.anywhere")
    assert (reply.status, reply.json["message"]) == (404, "Logger no.such.logger.anywhere not found.")
