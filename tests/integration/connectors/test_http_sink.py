"""HTTP sink against the test's own threaded web server: batching, order, retries (503, 429 +
Retry-After, a server hanging past the timeout), the error path to the DLQ with status and body,
authentication (BASIC, BEARER, API_KEY, OAuth2 with token caching and refresh), TLS, Aiven keys,
pooled connections across warm invocations."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors.http import sink as http_sink
from lambda_connect.plugins.connectors.http.sink import HttpSinkConnector, HttpSinkTask
from lambda_connect.runtime.sink_worker import RecordFailedError

from tests.e2e.test_sink_delivery import Context, event_for, load_app
from tests.fixtures.messaging import Answer, Certificates, Webhook, read_topic


@pytest.fixture(autouse=True)
def fresh_clients() -> Iterator[None]:
    http_sink._clients.clear()
    yield
    for client in http_sink._clients.values():
        client.close()
    http_sink._clients.clear()


class Harness:
    """Builds tasks the way the runtime does and records what they reported as errant."""

    def __init__(self, hook: Webhook) -> None:
        self.hook = hook
        self.errant: list[tuple[SinkRecord, BaseException]] = []
        self.waits: list[float] = []

    def task(self, *, reporter: bool = True, **props: str) -> HttpSinkTask:
        config = {"http.api.url": self.hook.url + "/in", "retry.backoff.ms": "10", **props}
        task = HttpSinkTask(sleep=self.waits.append)
        report = (lambda r, e: self.errant.append((r, e))) if reporter else None
        task.initialize(SinkTaskContext("http-test", 0, config, report))
        task.start(config)
        return task


@pytest.fixture
def h(webhook: Webhook) -> Harness:
    return Harness(webhook)


def rec(offset: int, value: Any, *, key: Any = None, partition: int = 0, topic: str = "orders") -> SinkRecord:
    return SinkRecord(topic, partition, None, key, None, value, offset, timestamp=1_700_000_000_000 + offset)


def deliver(task: HttpSinkTask, records: list[SinkRecord]) -> None:
    task.put(records)
    task.flush({})


# --- delivery, batching, order ------------------------------------------------------------------------


def test_batches_keep_partition_order_as_json_arrays(h: Harness) -> None:
    records = [rec(i // 2, {"n": i, "p": i % 2}, partition=i % 2) for i in range(25)]
    deliver(h.task(**{"batch.max.size": "10", "request.body.format": "json", "batch.json.as.array": "true"}),
            records)
    bodies = [r.json() for r in h.hook.delivered]
    assert [len(b) for b in bodies] == [10, 10, 5]
    assert all(r.headers["content-type"] == "application/json" and r.method == "POST" for r in h.hook.delivered)
    sent = [item for body in bodies for item in body]
    assert sent == [{"n": i, "p": i % 2} for i in range(25)]  # consumption order, so each partition's too


def test_string_batches_with_prefix_suffix_separator_and_extra_headers(h: Harness) -> None:
    task = h.task(**{"batch.max.size": "3", "batch.prefix": "<", "batch.suffix": ">", "batch.separator": "\n",
                     "headers": "X-Team:data|X-Env:test", "request.method": "put"})
    deliver(task, [rec(i, f"line-{i}") for i in range(4)] + [rec(4, b"raw-bytes")])
    assert [r.body for r in h.hook.delivered] == [b"<line-0\nline-1\nline-2>", b"<line-3\nraw-bytes>"]
    first = h.hook.delivered[0]
    assert (first.method, first.headers["x-team"], first.headers["x-env"]) == ("PUT", "data", "test")


def test_url_substitutes_topic_and_key_one_request_per_target(h: Harness) -> None:
    task = h.task(**{"http.api.url": h.hook.url + "/t/${topic}/k/${key}", "batch.max.size": "50"})
    deliver(task, [rec(0, "a", key="x"), rec(1, "b", key="x"), rec(2, "c", key="y/z"), rec(3, "d", key="x")])
    assert [(r.path, r.body) for r in h.hook.delivered] == [
        ("/t/orders/k/x", b"a,b"), ("/t/orders/k/y%2Fz", b"c"), ("/t/orders/k/x", b"d")]


def test_null_values_ignore_delete_or_fail(h: Harness) -> None:
    deliver(h.task(), [rec(0, None, key="k")])
    assert h.hook.requests == []
    deliver(h.task(**{"behavior.on.null.values": "delete", "http.api.url": h.hook.url + "/items/${key}"}),
            [rec(1, "keep", key="a"), rec(2, None, key="b")])
    assert [(r.method, r.path) for r in h.hook.delivered] == [("POST", "/items/a"), ("DELETE", "/items/b")]
    deliver(h.task(**{"behavior.on.null.values": "fail"}), [rec(3, None)])
    (record, error), = h.errant
    assert record.kafka_offset == 3 and "behavior.on.null.values=fail" in str(error)


def test_warm_invocations_reuse_the_pooled_connection(h: Harness) -> None:
    task = h.task()
    deliver(task, [rec(0, "a")])
    again = h.task()  # a new task instance in the same container (e.g. after a config change)
    deliver(again, [rec(1, "b")])
    assert len(http_sink._clients) == 1
    assert h.hook.delivered[0].client_port == h.hook.delivered[1].client_port


# --- retries --------------------------------------------------------------------------------------------


def test_503_is_retried_and_the_batch_delivered_once(h: Harness) -> None:
    h.hook.script(Answer(503, b"busy"), Answer(503, b"busy"))
    task = h.task(**{"batch.max.size": "5"})
    deliver(task, [rec(i, str(i)) for i in range(5)])
    assert [r.body for r in h.hook.delivered] == [b"0,1,2,3,4"]
    assert task.requests == 3 and len(h.waits) == 2 and h.errant == []


def test_429_waits_as_long_as_retry_after_says(h: Harness) -> None:
    h.hook.script(Answer(429, b"slow down", {"Retry-After": "2"}))
    deliver(h.task(**{"retry.backoff.ms": "50"}), [rec(0, "x")])
    assert h.waits == [2.0]
    assert [r.body for r in h.hook.delivered] == [b"x"]


def test_retry_after_is_capped_by_the_longest_wait(h: Harness) -> None:
    h.hook.script(Answer(503, b"", {"Retry-After": "3600"}))
    deliver(h.task(**{"retry.backoff.max.ms": "1500"}), [rec(0, "x")])
    assert h.waits == [1.5]


def test_a_server_hanging_past_the_timeout_is_retried(h: Harness) -> None:
    h.hook.script(Answer(200, hang_s=1.5))
    task = h.task(**{"http.request.timeout.ms": "300"})
    deliver(task, [rec(0, "late")])
    assert task.requests == 2 and len(h.hook.delivered) == 1 and h.hook.delivered[0].body == b"late"


def test_retries_running_out_leave_the_batch_uncommitted(h: Harness) -> None:
    h.hook.respond = lambda request: Answer(502, b"bad gateway")
    task = h.task(**{"max.retries": "2"})
    with pytest.raises(RetriableException, match=r"failed after 3 attempt\(s\), last with status 502"):
        task.put([rec(0, "x")])
    assert task.requests == 3 and h.errant == [] and h.hook.delivered == []


def test_custom_retry_codes_make_4xx_retryable(h: Harness) -> None:
    h.hook.script(Answer(409, b"conflict"))
    deliver(h.task(**{"retry.on.status.codes": "409,500-"}), [rec(0, "x")])
    assert len(h.hook.delivered) == 1 and h.errant == []


def test_bad_retry_code_spec_names_the_key() -> None:
    result = HttpSinkConnector.config_def.validate({"http.api.url": "http://x", "retry.on.status.codes": "5xx"})
    assert "retry.on.status.codes" in result["retry.on.status.codes"].errors[0]


# --- the error path -----------------------------------------------------------------------------------------


def test_client_errors_go_to_the_errant_reporter_with_status_and_body(h: Harness) -> None:
    h.hook.respond = lambda request: Answer(400, b'{"error": "field id missing"}') if b"bad" in request.body else None
    records = [rec(0, "ok-0"), rec(1, "ok-1"), rec(2, "bad"), rec(3, "ok-3"), rec(4, "ok-4")]
    deliver(h.task(**{"batch.max.size": "2"}), records)
    assert [r.body for r in h.hook.delivered] == [b"ok-0,ok-1", b"ok-4"]
    # The server refused the whole second request: both of its records take the error path.
    assert [r.kafka_offset for r, _ in h.errant] == [2, 3]
    error = h.errant[0][1]
    assert isinstance(error, http_sink.HttpResponseError) and error.status == 400
    assert str(error) == f'HTTP POST {h.hook.url}/in answered 400: {{"error": "field id missing"}}'


def test_without_a_reporter_a_client_error_fails_the_batch(h: Harness) -> None:
    h.hook.script(Answer(404, b"no such hook"))
    with pytest.raises(ConnectException, match="answered 404: no such hook"):
        h.task(reporter=False).put([rec(0, "x")])


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


def create(app: ModuleType, name: str, topic: str, hook: Webhook, **extra: str) -> None:
    app.handler.store.create_connector(name, {
        "name": name, "topics": topic, "connector.class": "HttpSink", "http.api.url": hook.url + "/in",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter", "retry.backoff.ms": "1", **extra,
    })


@pytest.mark.broker
def test_rejected_records_reach_the_dlq_with_status_and_body_and_the_reporter_topics(
        app: ModuleType, webhook: Webhook, kafka_broker: str, kafka_topic: Any, unique_name: str) -> None:
    topic, dlq, ok_topic, error_topic = kafka_topic(), kafka_topic(), kafka_topic(), kafka_topic()
    webhook.respond = lambda r: Answer(422, b"id 7 is invalid") if b'"id": 7,' in r.body else None
    create(app, unique_name, topic, webhook, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true",
        "reporter.bootstrap.servers": kafka_broker, "reporter.result.topic.name": ok_topic,
        "reporter.error.topic.name": error_topic})
    event = {**event_for(topic, kafka_broker, range(10)), "connector": unique_name}
    assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    assert [json.loads(r.body)["id"] for r in webhook.delivered] == [i for i in range(10) if i != 7]
    (dead,) = read_topic(kafka_broker, dlq, 1)
    headers = dict(dead.headers())
    assert headers["__connect.errors.offset"] == b"7"
    assert headers["__connect.errors.stage"] == b"TASK_PUT"
    assert headers["__connect.errors.class.name"] == b"io.confluent.connect.http.HttpSinkConnector"
    assert headers["__connect.errors.exception.message"] == f"HTTP POST {webhook.url}/in answered 422: id 7 is " \
                                                            "invalid".encode()
    assert json.loads(dead.value())["id"] == 7  # the record as consumed, for replay
    reported = read_topic(kafka_broker, ok_topic, 9)
    assert sorted(int(dict(m.headers())["input_record_offset"]) for m in reported) == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert {dict(m.headers())["status_code"] for m in reported} == {b"200"}
    (failed,) = read_topic(kafka_broker, error_topic, 1)
    assert dict(failed.headers())["status_code"] == b"422" and b"id 7 is invalid" in failed.value()


@pytest.mark.broker
def test_tolerance_none_fails_the_batch_on_a_rejected_record(app: ModuleType, webhook: Webhook,
                                                             kafka_broker: str, unique_name: str) -> None:
    webhook.script(Answer(200), Answer(400, b"nope"))
    create(app, unique_name, "orders", webhook)
    with pytest.raises(ConnectException, match=r"record orders-0@1: HTTP POST \S+ answered 400: nope"):
        app.lambda_handler({**event_for("orders", kafka_broker, range(3)), "connector": unique_name}, Context())
    status = app.handler.store.get_task_statuses(unique_name)[0]
    assert status.state == "FAILED" and "answered 400: nope" in status.trace


@pytest.mark.broker
def test_tolerance_none_with_a_dlq_names_the_record(app: ModuleType, webhook: Webhook, kafka_broker: str,
                                                   kafka_topic: Any, unique_name: str) -> None:
    webhook.script(Answer(200), Answer(400, b"nope"))
    create(app, unique_name, "orders", webhook, **{"errors.deadletterqueue.topic.name": kafka_topic()})
    with pytest.raises(RecordFailedError, match="record orders-0@1 in stage TASK_PUT"):
        app.lambda_handler({**event_for("orders", kafka_broker, range(3)), "connector": unique_name}, Context())


# --- authentication ----------------------------------------------------------------------------------------


def test_basic_bearer_and_api_key_authentication(h: Harness) -> None:
    deliver(h.task(**{"auth.type": "BASIC", "connection.user": "u", "connection.password": "p@ss"}), [rec(0, "a")])
    deliver(h.task(**{"auth.type": "BEARER", "bearer.token": "t0k"}), [rec(1, "b")])
    deliver(h.task(**{"auth.type": "API_KEY", "api.key.value": "k1"}), [rec(2, "c")])
    deliver(h.task(**{"auth.type": "API_KEY", "api.key.value": "k2", "api.key.location": "QUERY",
                      "api.key.identifier": "apikey"}), [rec(3, "d")])
    basic, bearer, header_key, query_key = h.hook.delivered
    assert basic.headers["authorization"] == "Basic " + base64.b64encode(b"u:p@ss").decode()
    assert bearer.headers["authorization"] == "Bearer t0k"
    assert header_key.headers["x-api-key"] == "k1"
    assert query_key.path == "/in?apikey=k2"


def test_missing_credentials_are_named() -> None:
    result = HttpSinkConnector.validate({"http.api.url": "http://x", "auth.type": "OAUTH2"})
    assert set(result) == {"oauth2.token.url", "oauth2.client.id"}


def test_oauth2_token_is_cached_across_invocations_and_refreshed_on_401(h: Harness) -> None:
    tokens = iter(["first", "second"])
    revoked: set[str] = set()

    def respond(request: Any) -> Answer | None:
        if request.path == "/token":
            assert request.headers["authorization"] == "Basic " + base64.b64encode(b"app:s3cret").decode()
            assert b"grant_type=client_credentials" in request.body and b"scope=write" in request.body
            return Answer(200, json.dumps({"access_token": next(tokens), "expires_in": 3600}).encode())
        if request.headers.get("authorization", "").removeprefix("Bearer ") in revoked:
            return Answer(401, b"token revoked")
        return None

    h.hook.respond = respond
    props = {"auth.type": "OAUTH2", "oauth2.token.url": h.hook.url + "/token", "oauth2.client.id": "app",
             "oauth2.client.secret": "s3cret", "oauth2.client.scope": "write"}
    deliver(h.task(**props), [rec(0, "a")])
    deliver(h.task(**props), [rec(1, "b")])  # a warm container: the cached token is used
    revoked.add("first")
    deliver(h.task(**props), [rec(2, "c")])
    token_requests = [r for r in h.hook.requests if r.path == "/token"]
    assert len(token_requests) == 2
    assert [(r.body, r.headers["authorization"]) for r in h.hook.delivered if r.path == "/in"] == [
        (b"a", "Bearer first"), (b"b", "Bearer first"), (b"c", "Bearer second")]


def test_oauth2_refused_client_credentials_are_a_clear_error(h: Harness) -> None:
    h.hook.respond = lambda r: Answer(401, b'{"error": "invalid_client"}') if r.path == "/token" else None
    task = h.task(**{"auth.type": "OAUTH2", "oauth2.token.url": h.hook.url + "/token", "oauth2.client.id": "wrong",
                     "oauth2.client.secret": "x", "oauth2.client.auth.mode": "url"})
    with pytest.raises(ConnectException, match="refused the client credentials: 401"):
        task.put([rec(0, "a")])
    assert b"client_id=wrong" in h.hook.requests[0].body


# --- TLS and Aiven's keys -------------------------------------------------------------------------------------


def test_tls_verifies_the_server_against_the_configured_ca(certificates: Certificates) -> None:
    hook = Webhook(certificates)
    try:
        h = Harness(hook)
        deliver(h.task(**{"https.ssl.truststore.location": str(certificates.ca)}), [rec(0, "secret")])
        assert [r.body for r in hook.delivered] == [b"secret"]
        http_sink._clients.clear()
        task = h.task(**{"https.ssl.truststore.location": str(certificates.other_ca)})
        with pytest.raises(ConnectException, match="TLS certificate was not accepted"):
            task.put([rec(1, "x")])
        assert task.requests == 1  # a certificate that does not verify is not retried
    finally:
        hook.close()


def test_aiven_keys_are_understood(h: Harness) -> None:
    config = {"http.url": h.hook.url + "/aiven", "http.authorization.type": "static",
              "http.headers.authorization": "Bearer static-token", "http.headers.content.type": "application/x-ndjson",
              "http.headers.additional": "X-A:1,X-B:2", "batching.enabled": "true", "http.timeout": "5"}
    assert HttpSinkConnector.validate(config) == {}
    task = HttpSinkTask()
    task.initialize(SinkTaskContext("aiven", 0, config, None))
    task.start(config)
    deliver(task, [rec(i, json.dumps({"i": i})) for i in range(3)])
    (request,) = h.hook.delivered
    assert request.path == "/aiven" and request.body == b'{"i": 0}\n{"i": 1}\n{"i": 2}'
    assert request.headers["authorization"] == "Bearer static-token"
    assert request.headers["content-type"] == "application/x-ndjson"
    assert (request.headers["x-a"], request.headers["x-b"]) == ("1", "2")
    assert task.s is not None and task.s.request_timeout_s == 5.0 and task.s.batch_max_size == 500


def test_a_url_is_required() -> None:
    result = HttpSinkConnector.validate({"auth.type": "NONE"})
    assert "http.api.url" in result and "http.url" in result["http.api.url"].errors[0]


def test_a_keep_alive_connection_the_server_dropped_is_replaced_without_a_retry(h: Harness) -> None:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    bodies: list[bytes] = []

    def serve() -> None:  # answers one request per connection, keep-alive style, then hangs up
        for _ in range(2):
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += conn.recv(65536)
            bodies.append(body)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    task = h.task(**{"http.api.url": f"http://127.0.0.1:{listener.getsockname()[1]}/in"})
    deliver(task, [rec(0, "first")])
    deliver(task, [rec(1, "second")])  # the pooled connection is dead by now
    thread.join(10)
    listener.close()
    assert bodies == [b"first", b"second"] and task.requests == 2 and h.waits == []


def test_requests_go_through_the_configured_proxy(h: Harness) -> None:
    task = h.task(**{"http.api.url": "http://orders.example.invalid/in", "http.proxy.host": "127.0.0.1",
                     "http.proxy.port": str(h.hook.port), "http.proxy.user": "p", "http.proxy.password": "pw"})
    deliver(task, [rec(0, "via proxy")])
    (request,) = h.hook.delivered
    assert request.path == "http://orders.example.invalid/in" and request.body == b"via proxy"
    assert request.headers["proxy-authorization"] == "Basic " + base64.b64encode(b"p:pw").decode()


def test_aivens_class_name_loads_the_same_connector() -> None:
    from lambda_connect.runtime.registry import Registry

    registry = Registry.default()
    assert registry.resolve("io.aiven.kafka.connect.http.HttpSinkConnector") is HttpSinkConnector
    assert registry.canonical("HttpSinkConnector") == "io.confluent.connect.http.HttpSinkConnector"


# --- regex.patterns / regex.replacements / regex.separator --------------------------------------------------


def test_regex_patterns_rewrite_each_value_in_order_before_batching(h: Harness) -> None:
    # Confluent's own example shape: "^" and "$" (split by "~") wrap every value into an object.
    task = h.task(**{"batch.max.size": "3", "batch.prefix": "[", "batch.suffix": "]",
                     "regex.patterns": r"^~$~(?<who>\w+)@example\.com",
                     "regex.replacements": '{"v":~}~${who} at \\$HOME', "request.body.format": "string"})
    deliver(task, [rec(0, "1"), rec(1, '"ann@example.com"'), rec(2, b"3")])
    (request,) = h.hook.delivered
    assert request.body == b'[{"v":1},{"v":"ann at $HOME"},{"v":3}]'


def test_regex_groups_by_number_and_a_custom_separator_on_json_values(h: Harness) -> None:
    task = h.task(**{"request.body.format": "json", "regex.separator": "|",
                     "regex.patterns": r'"card":"(\d{4})\d{8}(\d{4})"|"n":(\d)(\d)',
                     "regex.replacements": r'"card":"$1********$2"|"n":$2$1'})
    deliver(task, [rec(0, {"card": "1234567812345678", "n": 12})])
    assert h.hook.delivered[0].body == b'{"card":"1234********5678","n":21}'


@pytest.mark.parametrize(("props", "key", "needle"), [
    ({"regex.patterns": "ok~([unclosed", "regex.replacements": "a~b"}, "regex.patterns", "pattern 2 '([unclosed'"),
    ({"regex.patterns": "a~b", "regex.replacements": "x"}, "regex.replacements", "1 replacement(s) for 2 pattern(s)"),
    ({"regex.patterns": "(a)", "regex.replacements": "$2"}, "regex.replacements", "no group 2"),
    ({"regex.patterns": "a", "regex.replacements": "cost $"}, "regex.replacements", "write \\$ for a dollar"),
    ({"regex.patterns": "a", "regex.separator": ""}, "regex.separator", "must not be empty"),
])
def test_bad_regex_settings_are_named_at_validation(props: dict[str, str], key: str, needle: str) -> None:
    result = HttpSinkConnector.validate({"http.api.url": "http://x", "regex.replacements": "", **props})
    assert list(result) == [key]
    assert key in result[key].errors[0] and needle in result[key].errors[0]


def test_a_value_the_regex_cannot_read_as_text_takes_the_error_path_alone(h: Harness) -> None:
    task = h.task(**{"batch.max.size": "5", "regex.patterns": "a", "regex.replacements": "b"})
    deliver(task, [rec(0, b"aa"), rec(1, b"\xff\xfe"), rec(2, "ca")])
    assert [r.body for r in h.hook.delivered] == [b"bb,cb"]
    ((record, error),) = h.errant
    assert record.kafka_offset == 1 and "orders-0@1 is not UTF-8" in str(error)


# --- behavior.on.error ------------------------------------------------------------------------------------------


def test_behavior_on_error_fail_is_the_default_error_path(h: Harness) -> None:
    h.hook.script(Answer(400, b"no"))
    with pytest.raises(ConnectException, match=r"record orders-0@0: HTTP POST .* answered 400: no"):
        h.task(reporter=False).put([rec(0, "x")])


def test_behavior_on_error_ignore_skips_refused_records_visibly(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.hook.respond = lambda r: Answer(400, b"bad record") if r.body == b"bad" else None
    task = h.task(reporter=False, **{"behavior.on.error": "ignore"})  # no DLQ, no error log: tolerance none
    with caplog.at_level("WARNING"):
        deliver(task, [rec(0, "ok"), rec(1, "bad"), rec(2, "ok-too")])
    assert [r.body for r in h.hook.delivered] == [b"ok", b"ok-too"]
    assert task.records_dropped == 1
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "record orders-0@1 skipped (behavior.on.error=ignore)" in line and "HTTP status 400" in line
    assert "bad record" not in line  # ignore: the coordinates and the status, not the body


def test_behavior_on_error_log_drops_records_whose_retries_ran_out_with_the_error(
        h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    h.hook.respond = lambda r: Answer(503, b"down for maintenance") if r.body == b"b" else None
    task = h.task(reporter=False, **{"behavior.on.error": "log", "max.retries": "1"})
    with caplog.at_level("WARNING"):
        deliver(task, [rec(0, "a"), rec(1, "b"), rec(2, "c")])
    assert [r.body for r in h.hook.delivered] == [b"a", b"c"]
    assert task.records_dropped == 1 and task.requests == 4
    (line,) = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "record orders-0@1 skipped (behavior.on.error=log), kept nowhere" in line
    assert "failed after 2 attempt(s), last with status 503: down for maintenance" in line


def test_behavior_on_error_ignore_still_hands_records_to_a_tolerant_error_path(h: Harness) -> None:
    h.hook.script(Answer(422, b"nope"))
    task = h.task(**{"behavior.on.error": "ignore", "errors.tolerance": "all"})
    deliver(task, [rec(0, "x"), rec(1, "y")])
    assert [r.kafka_offset for r, _ in h.errant] == [0]  # the runtime's DLQ keeps it
    assert task.records_dropped == 0 and [r.body for r in h.hook.delivered] == [b"y"]


def test_behavior_on_error_applies_to_null_values_that_fail(h: Harness) -> None:
    task = h.task(reporter=False, **{"behavior.on.error": "ignore", "behavior.on.null.values": "fail"})
    deliver(task, [rec(0, None), rec(1, "v")])
    assert task.records_dropped == 1 and [r.body for r in h.hook.delivered] == [b"v"]


def test_bad_behavior_on_error_is_named() -> None:
    result = HttpSinkConnector.config_def.validate({"http.api.url": "http://x", "behavior.on.error": "skip"})
    assert result["behavior.on.error"].errors


@pytest.mark.broker
def test_ignored_records_count_as_dropped_in_the_sink_metrics(app: ModuleType, webhook: Webhook,
                                                              kafka_broker: str, unique_name: str) -> None:
    from lambda_connect.runtime.task_metrics import COLLECTOR

    webhook.respond = lambda r: Answer(400, b"no") if b'"id": 3,' in r.body else None
    create(app, unique_name, "orders", webhook, **{"behavior.on.error": "ignore"})
    event = {**event_for("orders", kafka_broker, range(5)), "connector": unique_name}
    assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    figures = COLLECTOR.of(unique_name)[0]
    assert (figures["RecordsDropped"].total, figures["RecordsWritten"].total, figures["RecordsFailed"].total) == (
        1, 4, 0)
    assert len(webhook.delivered) == 4


# --- sensitive.headers ---------------------------------------------------------------------------------------


SECRET = "s3cr3t-t0ken-value"


def test_sensitive_headers_are_sent_and_never_shown(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    # A server that echoes the request's headers in its answers: retry warnings and errors would leak them.
    def respond(request: Any) -> Answer:
        echo = f"refused, you sent {request.headers.get('x-token')} and {request.headers.get('x-team')}".encode()
        return Answer(503 if request.body == b"retry-me" and not h.waits else 400, echo)

    h.hook.respond = respond
    task = h.task(**{"sensitive.headers": f"X-Token:{SECRET}|Authorization:Bearer {SECRET}-2",
                     "headers": "X-Team:data"})
    with caplog.at_level("DEBUG", logger="lambda_connect.plugins.connectors.http"):
        deliver(task, [rec(0, "retry-me")])
    first = h.hook.requests[0]
    assert first.headers["x-token"] == SECRET and first.headers["authorization"] == f"Bearer {SECRET}-2"
    ((_, error),) = h.errant
    assert str(error).endswith("answered 400: refused, you sent [hidden] and data")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry 1 of 10" in logged and "'X-Token': '[hidden]'" in logged and "'X-Team': 'data'" in logged
    assert SECRET not in logged


def test_a_malformed_sensitive_header_is_named_without_its_value() -> None:
    result = HttpSinkConnector.validate({"http.api.url": "http://x", "sensitive.headers": f"Authorization {SECRET}"})
    (message,) = result["sensitive.headers"].errors
    assert "sensitive.headers" in message and "item 1 is not a Name:value header" in message
    assert SECRET not in message and result["sensitive.headers"].value == "[hidden]"


@pytest.mark.broker
def test_sensitive_values_stay_out_of_the_status_trace_dlq_and_error_reports(
        app: ModuleType, webhook: Webhook, kafka_broker: str, kafka_topic: Any, unique_name: str) -> None:
    dlq, error_topic = kafka_topic(), kafka_topic()
    webhook.respond = lambda r: Answer(400, f"bad key {r.headers.get('x-api-secret')}".encode()) \
        if b'"id": 1,' in r.body else None
    create(app, unique_name, "orders", webhook, **{
        "sensitive.headers": f"X-Api-Secret:{SECRET}", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.context.headers.enable": "true",
        "reporter.bootstrap.servers": kafka_broker, "reporter.error.topic.name": error_topic,
        "report.errors.as": "http_response"})
    assert app.lambda_handler({**event_for("orders", kafka_broker, range(3)), "connector": unique_name},
                              Context()) == {"batchItemFailures": []}
    (dead,) = read_topic(kafka_broker, dlq, 1)
    assert dict(dead.headers())["__connect.errors.exception.message"].endswith(b"answered 400: bad key [hidden]")
    (report,) = read_topic(kafka_broker, error_topic, 1)
    assert report.value() == b"bad key [hidden]" and SECRET.encode() not in dict(report.headers())["error_message"]

    other = f"{unique_name}-none"  # tolerance none: the batch fails and the task's trace names the answer
    webhook.respond = lambda r: Answer(400, f"bad key {r.headers.get('x-api-secret')}".encode())
    create(app, other, "orders", webhook, **{"sensitive.headers": f"X-Api-Secret:{SECRET}"})
    with pytest.raises(ConnectException, match=r"answered 400: bad key \[hidden\]"):
        app.lambda_handler({**event_for("orders", kafka_broker, range(1)), "connector": other}, Context())
    status = app.handler.store.get_task_statuses(other)[0]
    assert status.state == "FAILED" and "bad key [hidden]" in status.trace and SECRET not in status.trace


def test_aivens_static_authorization_is_treated_as_sensitive(h: Harness) -> None:
    h.hook.respond = lambda r: Answer(401, f"who is {r.headers.get('authorization')}?".encode())
    task = h.task(**{"http.authorization.type": "static", "http.headers.authorization": f"Bearer {SECRET}"})
    deliver(task, [rec(0, "x")])
    ((_, error),) = h.errant
    assert str(error).endswith("answered 401: who is [hidden]?")  # the whole header value is the secret


# --- the response reporter within the invocation's time ----------------------------------------------------------


class Countdown:
    """``SinkTaskContext.deadline_source`` for a test: ``steps`` answers of time left, then none."""

    def __init__(self, steps: int, each_s: float = 0.2) -> None:
        self.steps, self.each_s = steps, each_s

    def __call__(self) -> float:
        self.steps -= 1
        return self.each_s if self.steps >= 0 else 0.0


def _drop_reporter(task: HttpSinkTask) -> None:
    """Purge and release the reporter's producer, so it does not keep dialling the closed port."""
    producer = task.reporter._producer if task.reporter is not None else None
    if producer is not None:
        producer.purge()
        producer.poll(0)
        task.reporter._producer = None  # type: ignore[union-attr]


def _unreachable_kafka() -> str:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: the reporter's records never leave
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_a_full_reporter_queue_fails_the_batch_at_the_deadline(h: Harness) -> None:
    from lambda_connect.plugins.connectors.http.reporter import ReporterError

    task = h.task(**{"reporter.bootstrap.servers": _unreachable_kafka(), "reporter.queue.buffering.max.messages": "1"})
    assert task.context is not None
    task.context.deadline_source = Countdown(3)
    with pytest.raises(ReporterError, match=r"queue stayed full until the invocation's deadline .* record "
                                            r"orders-0@1 was not written, the batch is not committed"):
        deliver(task, [rec(0, "a"), rec(1, "b")])
    _drop_reporter(task)
    assert [r.body for r in h.hook.delivered] == [b"a", b"b"]  # sent; the batch comes again (at least once)


def test_reports_kafka_did_not_acknowledge_fail_the_flush(h: Harness) -> None:
    from lambda_connect.plugins.connectors.http.reporter import ReporterError

    task = h.task(**{"reporter.bootstrap.servers": _unreachable_kafka()})
    assert task.context is not None
    task.context.deadline_source = Countdown(1, 0.3)
    task.put([rec(0, "a")])
    with pytest.raises(ReporterError, match=r"1 of 1 response report\(s\) were not acknowledged by Kafka .* "
                                            "still queued after 0.3s; the batch is not committed"):
        task.flush({})
    _drop_reporter(task)


def test_retries_stop_where_the_invocation_has_no_time_for_the_next_wait(h: Harness) -> None:
    h.hook.respond = lambda r: Answer(503, b"busy")
    task = h.task(**{"retry.backoff.ms": "1000", "retry.backoff.policy": "CONSTANT_VALUE"})
    assert task.context is not None
    task.context.deadline_source = lambda: 0.5
    with pytest.raises(RetriableException, match=r"has 0.5s left, less than the 1.00s wait before the next retry"):
        task.put([rec(0, "x")])
    assert task.requests == 1 and h.waits == []


class ShortContext(Context):
    def get_remaining_time_in_millis(self) -> int:
        return 8_000  # the worker stops new records 5 s before the end and flushes until 0.5 s before it


@pytest.mark.broker
def test_the_runtime_gives_the_task_its_deadline(app: ModuleType, webhook: Webhook, kafka_broker: str,
                                                 unique_name: str) -> None:
    webhook.respond = lambda r: Answer(503, b"later", {"Retry-After": "30"})
    create(app, unique_name, "orders", webhook)
    with pytest.raises(Exception, match=r"failed after 1 attempt\(s\), last with status 503: later; the invocation "
                                        r"has \d+\.\ds left, less than the 30\.00s wait before the next retry"):
        app.lambda_handler({**event_for("orders", kafka_broker, range(1)), "connector": unique_name}, ShortContext())
    assert len(webhook.requests) == 1


def test_basic_credentials_echoed_back_are_hidden_even_encoded(h: Harness) -> None:
    h.hook.respond = lambda r: Answer(403, f"denied: {r.headers.get('authorization')}".encode())
    task = h.task(**{"auth.type": "BASIC", "connection.user": "svc", "connection.password": "hunter2!"})
    deliver(task, [rec(0, "x")])
    ((_, error),) = h.errant
    assert str(error).endswith("answered 403: denied: Basic [hidden]")
