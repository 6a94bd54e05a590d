"""The web console at ``/ui/`` of ``lambda-connect up`` in a real browser (Debian's chromium, driven
by Playwright): list, open (PASSWORD values masked), create with a validation error shown next to
its field, fix and save with the keyboard, pause and resume, DLQ replay, plugins, a phone-sized
screen. Screenshots of each page are taken; ``LAMBDA_CONNECT_SCREENSHOTS=1`` writes them to
docs/screenshots/ for the README.

Chromium comes from the machine (``make install`` installs Debian's package when it is missing);
Playwright's own browser download is never used. With CI=true a missing chromium fails."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.broker import produce
from tests.fixtures.services import service_unavailable

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CHROMIUM = os.environ.get("LAMBDA_CONNECT_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Where screenshots go: the README's folder when asked (LAMBDA_CONNECT_SCREENSHOTS=1), else a temp dir,
#: so a test run leaves the working tree as it was.
DOC_SHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        service_unavailable("chromium", CHROMIUM, FileNotFoundError("apt-get install -y chromium (make install)"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        service_unavailable("Playwright for Python", "pip", e)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
    tmp = tmp_path_factory.mktemp("console")
    rt = LocalRuntime(RuntimeOptions(state_url=f"sqlite:///{tmp}/state.db", port=0, reconcile_interval=2.0,
                                     broker_log=tmp / "tansu.log")).start()
    rt.test_dir = tmp  # type: ignore[attr-defined]
    try:
        yield rt
    finally:
        rt.stop(20)


def shot(page: Any, name: str) -> None:
    folder = DOC_SHOTS if os.environ.get("LAMBDA_CONNECT_SCREENSHOTS") == "1" else Path(shot.folder)  # type: ignore[attr-defined]
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))
    assert (folder / f"{name}.png").stat().st_size > 1000


def test_console_pages_in_a_real_browser(browser: Any, runtime: LocalRuntime) -> None:
    url, tmp = runtime.url, runtime.test_dir  # type: ignore[attr-defined]
    shot.folder = tmp / "screenshots"  # type: ignore[attr-defined]
    topic = f"orders-{uuid.uuid4().hex[:6]}"
    sink = {"connector.class": "FileStreamSink", "topics": topic, "file": str(tmp / "orders.txt"),
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": f"{topic}-dlq",
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true", "lambda.maximum.batching.window.seconds": "0"}
    r = requests.post(f"{url}/connectors", json={"name": "orders-sink", "config": sink}, timeout=30)
    assert r.status_code == 201, r.text
    jdbc = {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": "unused",
            "connection.url": "postgresql://127.0.0.1:5432/test", "connection.password": "hunter2-secret"}
    r = requests.post(f"{url}/connectors", json={"name": "warehouse", "config": jdbc, "initial_state": "STOPPED"},
                      timeout=30)
    assert r.status_code == 201, r.text
    produce(runtime.bootstrap_servers, topic, [(f"k{i}", json.dumps(f"order-{i}") if i % 4 else "not json {")
                                               for i in range(12)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if requests.get(f"{url}/connectors/orders-sink/dlq", timeout=10).json()["total"] >= 3:
            break
        time.sleep(0.5)

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(WAIT_MS)

    # list: refreshes on its own until the sink's figures arrive
    page.goto(f"{url}/ui/")
    row = page.locator("#connectors tr", has_text="orders-sink")
    row.wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('#connectors tr')].some(r => "
                           "r.textContent.includes('orders-sink') && r.children[8].textContent.trim() === '3')")
    assert "FileStreamSink" in row.inner_text() and "RUNNING" in row.inner_text()
    shot(page, "connectors")

    # open a connector: its config with the PASSWORD value masked
    page.get_by_role("link", name="warehouse").click()
    page.locator("#config").wait_for()
    config_text = page.locator("#config").inner_text()
    assert "connection.password" in config_text and "hunter2" not in config_text and "••••" in config_text
    assert "STOPPED" in page.locator("#connector-live").inner_text()

    # create: a missing topics setting is shown next to that field; fixed and saved from the keyboard
    page.get_by_role("link", name="New connector").click()
    page.locator("#f-name").fill("console-made")
    page.locator("#f-class").select_option("org.apache.kafka.connect.file.FileStreamSinkConnector")
    topics = page.locator("#f-topics")
    topics.wait_for()
    page.locator("#f-file").fill(str(tmp / "made.txt"))
    error = page.locator("#f-topics-error")
    page.wait_for_function("() => document.getElementById('f-topics-error').textContent.includes('topics')")
    assert "Must configure one of topics or topics.regex" in error.inner_text()
    assert topics.get_attribute("aria-invalid") == "true"
    shot(page, "create")
    topics.focus()
    page.keyboard.type(topic)
    page.wait_for_function("() => document.getElementById('f-topics-error').textContent === ''")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_url("**/ui/#/connectors/console-made")
    assert requests.get(f"{url}/connectors/console-made/config", timeout=10).json()["topics"] == topic

    # pause and resume, seen through the page's own refresh
    page.get_by_role("button", name="Pause").click()
    page.locator("#connector-live .state", has_text="PAUSED").first.wait_for()
    assert requests.get(f"{url}/connectors/console-made/status", timeout=10).json()["connector"]["state"] == "PAUSED"
    page.get_by_role("button", name="Resume").click()
    page.locator("#connector-live .state", has_text="RUNNING").first.wait_for()
    shot(page, "connector")

    # the DLQ: list, filter, replay
    page.goto(f"{url}/ui/#/dlq/orders-sink")
    page.locator("#dlq tbody tr").first.wait_for()
    assert page.locator("#dlq tbody tr").count() == 3
    assert "VALUE_CONVERTER" in page.locator("#dlq").inner_text()
    page.locator("#dlq-filter").fill("key=k4")
    page.locator("#dlq-filter").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#dlq tbody tr').length === 1")
    page.locator("#dlq-filter").fill("")
    page.locator("#dlq-filter").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#dlq tbody tr').length === 3")
    page.get_by_role("button", name="Replay").click()
    page.wait_for_function("() => document.getElementById('replay-result').textContent.startsWith('Replayed 3')")
    page.wait_for_function("() => [...document.querySelectorAll('#dlq tbody tr')].slice(0, 3)"
                           ".every(r => r.lastChild.textContent === 'yes')")
    shot(page, "dlq")

    page.get_by_role("link", name="Plugins").click()
    page.locator("#plugins", has_text="JdbcSinkConnector").wait_for()
    shot(page, "plugins")
    assert errors == []

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.set_default_timeout(WAIT_MS)
    phone.goto(f"{url}/ui/")
    phone.locator("#connectors tr", has_text="orders-sink").wait_for()
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "phone")
    phone.close()
    page.close()


class _JwtFront:
    """Stands in for API Gateway with a JWT authorizer in front of ``up``: the console's files pass
    (the template routes ``GET /ui`` and ``GET /ui/{proxy+}`` without the authorizer), every other
    request needs ``Authorization: Bearer <token>`` or gets API Gateway's 401."""

    def __init__(self, upstream: str, token: str) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        front = self
        self.refused: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep the test output quiet
                pass

            def _forward(self) -> None:
                path = self.path.split("?", 1)[0]
                if not (self.command == "GET" and (path == "/ui" or path.startswith("/ui/"))) and \
                        self.headers.get("Authorization") != f"Bearer {token}":
                    front.refused.append(f"{self.command} {self.path}")
                    body = b'{"message":"Unauthorized"}'
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                reply = requests.request(self.command, upstream + self.path, data=self.rfile.read(length) or None,
                                         headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                                         allow_redirects=False, timeout=30)
                self.send_response(reply.status_code)
                for key, value in reply.headers.items():
                    if key.lower() not in {"content-length", "transfer-encoding", "connection", "content-encoding"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        import threading

        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_console_signs_in_with_a_bearer_token_behind_a_jwt_authorizer(browser: Any, runtime: LocalRuntime) -> None:
    r = requests.put(f"{runtime.url}/connectors/behind-jwt/config", timeout=30, json={
        "connector.class": "FileStreamSink", "topics": "jwt-topic",
        "file": str(runtime.test_dir / "jwt.txt")})  # type: ignore[attr-defined]
    assert r.status_code in (200, 201), r.text
    front = _JwtFront(runtime.url, "good-token")
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{front.url}/ui")  # redirected to /ui/index.html, a route without the authorizer
        page.locator("#sign-in").wait_for()
        assert "asks for a bearer token" in page.locator("[role=alert]").inner_text()
        assert front.refused and all("/ui" not in call for call in front.refused)

        page.locator("#token").fill("stale-token")
        page.locator("#token").press("Enter")
        page.wait_for_function("() => (document.querySelector('[role=alert]') || {}).textContent"
                               "?.includes('refused the token')")
        page.locator("#token").fill("good-token")
        page.get_by_role("button", name="Sign in").click()
        page.locator("#connectors tr", has_text="behind-jwt").wait_for()
        refused = len(front.refused)
        page.get_by_role("link", name="behind-jwt").click()
        page.locator("#config").wait_for()
        assert len(front.refused) == refused, "every call after sign-in carried the token"

        # an identity provider's redirect hands the token over in the address; it leaves the address
        fresh = browser.new_page(viewport={"width": 1280, "height": 800})
        fresh.set_default_timeout(WAIT_MS)
        fresh.goto(f"{front.url}/ui/index.html#access_token=good-token")
        fresh.locator("#connectors tr", has_text="behind-jwt").wait_for()
        assert "access_token" not in fresh.url
        fresh.close()
    finally:
        page.close()
        front.close()


def test_console_shows_a_sources_reported_lag_with_its_unit(browser: Any, runtime: LocalRuntime) -> None:
    from lambda_connect.runtime.task_metrics import COLLECTOR

    source = {"connector.class": "FileStreamSource", "topic": "lagging", "file": str(runtime.test_dir / "in.txt")}  # type: ignore[attr-defined]
    r = requests.post(f"{runtime.url}/connectors", json={"name": "lagging-source", "config": source,
                                                          "initial_state": "PAUSED"}, timeout=30)
    assert r.status_code == 201, r.text
    # what a CDC task reports after a run (SourceTask.lag_metrics), as the source worker records it
    COLLECTOR.record("lagging-source", 0, {"source_lag_bytes": (5_452_595.0, "Bytes")}, gauges={"source_lag_bytes"})
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(WAIT_MS)
    try:
        page.goto(f"{runtime.url}/ui/")
        row = page.locator("#connectors tr", has_text="lagging-source")
        row.wait_for()
        page.wait_for_function("() => [...document.querySelectorAll('#connectors tr')].some(r => "
                               "r.textContent.includes('lagging-source') && r.textContent.includes('5.2 MiB'))")
    finally:
        page.close()
