"""``lambda-connect up`` in-process: broker, state table, REST API, reconciler and local platform.

The pieces are the deployed ones: the REST router of ``functions/connector_api``, the
reconciler of ``functions/reconciler``, and the handler files ``functions/sink_task/app.py`` and
``functions/source_task/app.py`` loaded by path and invoked with Lambda's event shapes. Only the
platform differs (:class:`~lambda_connect.local.platform.LocalPlatform`).

Instead of a DynamoDB stream, the REST layer's ``on_change`` hook queues the connector for the
reconcile thread, so pause/resume/stop/delete/restart take effect within a second or two; a
periodic pass over every connector retries failures, and a topic watch (``local.topic_watch``)
reconciles ``topics.regex`` sinks as soon as the cluster's topics change.

What the run before left behind is read from the state store at start (``local.ledger``): an
in-memory embedded broker's lost topics are reported per connector, and the source leases of a
runtime that was killed are released instead of waiting for them to expire.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambda_connect.state.base import DEFAULT_STATE_URL

from .context import LambdaContext
from .functions import FunctionSpec, find_function, load_handler, project_root

__all__ = ["LocalRuntime", "RuntimeOptions"]

log = logging.getLogger(__name__)

SINK_FUNCTION = "SinkTaskFunction"
SOURCE_FUNCTION = "SourceTaskFunction"
#: A local source invocation's timeout unless told otherwise: short, so a pause is felt at once
#: (a running source invocation, as on AWS, goes on until its budget is spent).
DEFAULT_LOCAL_SOURCE_TIMEOUT_S = 4
#: Local handlers stop work this long before their deadline (Lambda's default margin is 5 s, which
#: would eat a short local source budget whole).
LOCAL_DEADLINE_MARGIN_MS = "1000"
#: The task functions' variables ``GET /local/environment`` shares with ``lambda-connect invoke --url``
#: (and ``LAMBDA_CONNECT_SECRETS``, where the PASSWORD values of connector configs are).
SHARED_ENV = ("LAMBDA_CONNECT_STATE_URL", "LAMBDA_CONNECT_BOOTSTRAP_SERVERS", "LAMBDA_CONNECT_KAFKA_AUTH",
              "LAMBDA_CONNECT_MSK_CLUSTER_ARN")
#: Seconds between two counts of topic and sink positions on an in-memory broker.
POSITIONS_INTERVAL_S = 5.0
#: librdkafka settings of every client of the embedded broker (the task functions', the mappings',
#: the runtime's own), unless the environment sets them. A client connects to a broker only once a
#: request needs it (sparse connections) and spaces such connections by ``reconnect.backoff.ms / 2``:
#: with Kafka's default of 100 ms each new client lost 50 ms before its first request to the broker
#: it learns of from the bootstrap connection (a mapping's group join, a DLQ topic's creation, the
#: topic watch). On one loopback broker 10 ms is plenty; a broker that went away is still retried
#: with a backoff doubling up to ``reconnect.backoff.max.ms`` (10 s). Sparse connections stay on:
#: turned off, every client left open at exit reports the stopped broker again and again.
EMBEDDED_BROKER_CLIENT_ENV = {"LAMBDA_CONNECT_KAFKA_RECONNECT_BACKOFF_MS": "10"}
#: The heavier modules the start needs once the broker is up, imported while it starts.
_START_MODULES = ("lambda_connect.rest.router", "lambda_connect.rest.resources", "lambda_connect.runtime.reconciler",
                  "lambda_connect.aws.sink_offsets", "lambda_connect.runtime.registry")


@dataclass
class RuntimeOptions:
    """Everything ``lambda-connect up`` takes; tests build it directly."""

    connectors: Sequence[Mapping[str, str]] = ()
    bootstrap_servers: str | None = None
    #: Storage of the embedded broker: ``memory://`` (default; topics are gone when it stops) or
    #: ``s3://BUCKET/`` (tansu's S3 engine: topics and group offsets survive a restart).
    broker_storage: str | None = None
    #: Pin the embedded broker's port (None: a free one each start).
    broker_port: int | None = None
    state_url: str = DEFAULT_STATE_URL
    port: int = 8083
    bind: str = "127.0.0.1"
    root: Path | None = None
    sink_timeout_seconds: int | None = None
    source_timeout_seconds: int | None = DEFAULT_LOCAL_SOURCE_TIMEOUT_S
    reconcile_interval: float = 10.0
    #: Seconds between looks at the cluster's topic list (a new topic matching a sink's
    #: ``topics.regex`` is reconciled at once; see ``local.topic_watch``).
    topic_watch_interval: float = 2.0
    json_logs: bool = False
    #: Seconds between two one-line summaries per connector at INFO (0: none); see ``local.summary``.
    summary_interval: float = 60.0
    broker_log: Path | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    #: Consumer settings of the emulated mappings; None: quick group joins on the embedded
    #: broker (session.timeout.ms=2000, below Kafka's default group.min.session.timeout.ms of
    #: 6000, which tansu does not enforce), Kafka's 6000 minimum on any other cluster.
    esm_consumer_overrides: Mapping[str, Any] | None = None


class _LazyHandler:
    """Loads a handler file on its first invocation (a cold start), once, thread-safely."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str]) -> None:
        self.spec = spec
        self._env = dict(env)
        self._handler: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        with self._lock:
            if self._handler is None:
                self._handler = load_handler(self.spec, self._env)
            return self._handler

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> Any:
        return self.load()(event, context)


class LocalRuntime:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`."""

    def __init__(self, options: RuntimeOptions) -> None:
        self.options = options
        self.broker: Any = None
        self.store: Any = None
        self.platform: Any = None
        self.reconciler: Any = None
        self.service: Any = None
        self.server: Any = None
        self.bootstrap_servers: str = options.bootstrap_servers or ""
        self.env: dict[str, str] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reconcile_thread: threading.Thread | None = None
        self._topic_watch: Any = None
        self.ledger: Any = None
        #: What a new in-memory broker means for each connector, when an earlier run's is gone.
        self.previous_run_report: list[str] = []
        self._positions_thread: threading.Thread | None = None
        self._summaries: Any = None
        #: The last reconcile outcome logged per connector: only a change is worth an INFO line.
        self._outcomes: dict[str, tuple[str, str | None, str | None]] = {}
        self._admin: Any = None
        self._stopping = threading.Event()
        self._stopped = False
        self._saved_environ: dict[str, str] | None = None
        self._absolute_state_url = ""

    # ------------------------------------------------------------------ properties
    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def embedded_broker(self) -> bool:
        return self.broker is not None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        opts = self.options
        broker_start: _Background | None = None
        if not self.bootstrap_servers:
            from .broker import EmbeddedBroker

            storage = opts.broker_storage
            # A durable broker must come back under the same cluster id to find its topics again.
            cluster_id = f"lambda-connect-{uuid.uuid5(uuid.NAMESPACE_URL, storage).hex[:12]}" if storage else None
            self.broker = EmbeddedBroker(log_path=opts.broker_log, storage=storage, cluster_id=cluster_id,
                                         port=opts.broker_port)
            # tansu starts, and answers its first metadata request, while this thread imports the
            # runtime's modules, reads the template and loads the state store's driver.
            broker_start = _Background(self.broker.start, "broker-start")
        elif opts.broker_storage or opts.broker_port:
            raise ValueError("--broker-storage and --broker-port are for the embedded broker; they cannot apply "
                             "to --bootstrap-servers")
        try:
            sink_spec, source_spec = self._prepare()
        finally:
            if broker_start is not None:
                broker_start.join()  # never leave a broker starting behind an error of this thread
        if broker_start is not None:
            broker_start.result()
            self.bootstrap_servers = self.broker.bootstrap_servers
            log.info("embedded Kafka broker (tansu) on %s, topics %s", self.bootstrap_servers,
                     "in memory (gone when up stops)" if self.broker.in_memory else f"in {self.broker.storage}")
        self._start_services(sink_spec, source_spec)

    def _prepare(self) -> tuple[FunctionSpec, FunctionSpec]:
        """The start's work that needs no broker: imports, the template's two functions, the state
        store's directory and driver."""
        import importlib

        for module in _START_MODULES:  # what _start_services imports, imported while the broker starts
            importlib.import_module(module)
        opts = self.options
        _prepare_sqlite(opts.state_url)
        self._absolute_state_url = absolute_state_url(opts.state_url)  # what the store opens, from this cwd
        root = opts.root or project_root()
        sink_spec = find_function(SINK_FUNCTION, root)
        source_spec = find_function(SOURCE_FUNCTION, root)
        if _store_reads_environment(self._absolute_state_url):
            _import_store_backend(self._absolute_state_url)  # opened once the environment is set
        else:
            from lambda_connect.state.base import open_store

            self.store = open_store(self._absolute_state_url)
        return sink_spec, source_spec

    def _start_services(self, sink_spec: FunctionSpec, source_spec: FunctionSpec) -> None:
        from lambda_connect.aws.kafka_clients import kafka_settings_from_env
        from lambda_connect.aws.sink_offsets import KafkaSinkOffsets
        from lambda_connect.rest.resources import ConnectService
        from lambda_connect.rest.router import Router
        from lambda_connect.runtime.reconciler import Reconciler
        from lambda_connect.runtime.registry import Registry
        from lambda_connect.runtime.secrets import open_secret_store
        from lambda_connect.state.base import open_store

        from .platform import LocalPlatform
        from .server import RestServer

        opts = self.options
        self.env = self._environment(sink_spec)
        # The handlers read their configuration from os.environ, as in Lambda; the process
        # environment is restored on stop so an embedding program (or a test) is left as it was.
        self._saved_environ = dict(os.environ)
        os.environ.update(self.env)

        if self.store is None:
            self.store = open_store(self._absolute_state_url)
        request_id_prefix = self._remember_run()
        kafka = kafka_settings_from_env(self.env)
        registry = Registry.default()
        sink_timeout = opts.sink_timeout_seconds or sink_spec.timeout_seconds
        source_timeout = opts.source_timeout_seconds or source_spec.timeout_seconds
        self.platform = LocalPlatform(
            kafka,
            sink_invoke=_LazyHandler(sink_spec, self.env),
            source_invoke=_LazyHandler(source_spec, self.env),
            sink_function=sink_spec.name,
            source_function=source_spec.name,
            sink_timeout_ms=sink_timeout * 1000,
            source_timeout_ms=source_timeout * 1000,
            stop_timeout=max(sink_timeout, source_timeout) + 5.0,
            consumer_overrides=dict(self._esm_overrides()), request_id_prefix=request_id_prefix,
        )
        worker_id = f"{opts.bind}:{opts.port}"
        self.reconciler = Reconciler(self.store, self.platform, registry, worker_id=worker_id)
        sink_offsets = KafkaSinkOffsets.from_settings(kafka)
        self.service = ConnectService(
            self.store, registry, open_secret_store(self._absolute_state_url, self.env), sink_offsets,
            on_change=self.nudge, worker_id=worker_id, kafka_cluster_id=sink_offsets.cluster_id,
            server_extra=self._server_extra(),
        )
        self.server = RestServer(Router(self.service), opts.bind, opts.port).start()
        self.service.worker_id = self.reconciler.worker_id = f"{opts.bind}:{self.server.port}"
        from .extensions import attach_extensions  # DLQ, /metrics, the tasks' worker_id (issue 16)

        attach_extensions(self.service, kafka, self.store)
        self.service.local_environment = self.invoke_environment  # GET /local/environment, for invoke --url
        for config in opts.connectors:
            self.register(config)
        from .topic_watch import TopicWatcher

        self._topic_watch = TopicWatcher(self.platform.list_topics, self._topics_changed,
                                         opts.topic_watch_interval).start()
        self._reconcile_thread = threading.Thread(target=self._reconcile_loop, name="reconciler", daemon=True)
        self._reconcile_thread.start()
        if self.broker is not None and self.broker.in_memory:
            self._positions_thread = threading.Thread(target=self._count_loop, name="positions", daemon=True)
            self._positions_thread.start()
        from .summary import ConnectorSummaries

        self._summaries = ConnectorSummaries(self.store.list_connectors, self.service.status,
                                             opts.summary_interval).start()
        log.info("Kafka Connect REST API on %s", self.url)

    def _server_extra(self) -> dict[str, str]:
        """What ``GET /`` says about the broker, beyond Kafka Connect's fields."""
        if self.broker is None:
            return {"kafka_broker": "external", "kafka_storage": "the cluster's own"}
        if self.broker.in_memory:
            return {"kafka_broker": "embedded", "kafka_storage": "memory: topics and consumer offsets are lost when "
                    "lambda-connect up stops (--broker-storage s3://BUCKET/ or --bootstrap-servers keep them)"}
        return {"kafka_broker": "embedded", "kafka_storage": self.broker.storage}

    def invoke_environment(self) -> dict[str, Any]:
        """The variables ``lambda-connect invoke --url`` needs to act on this runtime's connectors
        (``GET /local/environment``): paths made absolute, since invoke runs from any directory;
        a password in the state URL is masked and said so, never sent over HTTP."""
        from urllib.parse import urlsplit, urlunsplit

        from lambda_connect.runtime.secrets import SECRETS_ENV

        environment = {key: self.env[key] for key in (*SHARED_ENV, SECRETS_ENV) if self.env.get(key) is not None}
        notes: list[str] = []
        state = self._absolute_state_url or absolute_state_url(environment.get("LAMBDA_CONNECT_STATE_URL", ""))
        parts = urlsplit(state)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            state = urlunsplit(parts._replace(netloc=netloc))
            notes.append("the state URL's password is masked: pass the full URL with invoke --state")
        if state.lower().startswith("memory:"):
            notes.append("this up keeps its state in memory, which another process cannot read: start up with "
                         "--state sqlite:///PATH (the default) to invoke its connectors")
        environment["LAMBDA_CONNECT_STATE_URL"] = state
        secrets = environment.get(SECRETS_ENV, "")
        if secrets.startswith("file:") and not Path(secrets[5:]).is_absolute():
            environment[SECRETS_ENV] = "file:" + str(Path(secrets[5:]).absolute())
        return {"environment": environment, "notes": notes}

    def _remember_run(self) -> str:
        """Read what the state store remembers of the earlier run (report what a new in-memory
        broker lost, release the leases of a runtime that died), record this run; returns the
        prefix of this run's source request ids."""
        from .ledger import Ledger, previous_run_report

        self.ledger = Ledger(self.store)
        cluster_id = self.broker.cluster_id if self.broker is not None else f"external:{self.bootstrap_servers}"
        try:
            self.previous_run_report = previous_run_report(self.ledger, cluster_id=cluster_id, store=self.store)
        except Exception:  # the report is advice; a failure to build it must not stop the start
            log.warning("cannot tell what the earlier run's broker held", exc_info=True)
        for line in self.previous_run_report:
            log.warning("%s", line)
        released = self.ledger.release_dead_leases(self.store.list_connectors())
        if released:
            log.info("released the leases of source tasks %s, held by a runtime that is gone", ", ".join(released))
        self.ledger.record_broker(cluster_id=cluster_id, bootstrap=self.bootstrap_servers,
                                  storage=self.broker.storage if self.broker is not None else None)
        return self.ledger.register_instance()

    def _mappings(self) -> dict[str, dict[str, Any]]:
        return {name: self.platform.esms(name) for name in list(getattr(self.platform, "_esms", {}))}

    def _count_positions(self, esms: dict[str, dict[str, Any]] | None = None) -> None:
        """Record how far each topic and sink got (what the next start reports if this broker's
        in-memory topics are lost)."""
        from .ledger import count_positions

        if self.ledger is None or self.platform is None:
            return
        try:
            if self._admin is None:
                from lambda_connect.aws.kafka_clients import make_admin

                self._admin = make_admin(self.platform.kafka)
            topics, sinks = count_positions(self._admin, self._mappings() if esms is None else esms, self.store)
        except Exception as e:  # the broker may be going away; the last count stays
            log.debug("counting topic and sink positions failed: %s", e)
            return
        self.ledger.record_positions(topics, sinks)

    def _count_loop(self) -> None:
        while not self._stopping.wait(POSITIONS_INTERVAL_S):
            self._count_positions()

    def _esm_overrides(self) -> Mapping[str, Any]:
        if self.options.esm_consumer_overrides is not None:
            return self.options.esm_consumer_overrides
        if self.broker is not None:
            return {"session.timeout.ms": 2000, "heartbeat.interval.ms": 500}
        return {}

    def _environment(self, sink_spec: FunctionSpec) -> dict[str, str]:
        """The task functions' environment: the template's, then what a laptop needs instead."""
        from lambda_connect.runtime.secrets import SECRETS_ENV, default_secrets_setting

        env = {k: v for k, v in sink_spec.environment.items() if k != "POWERTOOLS_SERVICE_NAME"}
        env.update({
            # absolute: handlers open the store lazily, whatever the process's directory is by then
            "LAMBDA_CONNECT_STATE_URL": self._absolute_state_url or self.options.state_url,
            "LAMBDA_CONNECT_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LAMBDA_CONNECT_KAFKA_AUTH": os.environ.get("LAMBDA_CONNECT_KAFKA_AUTH", "none"),
            "LAMBDA_CONNECT_MSK_CLUSTER_ARN": "",
            SECRETS_ENV: os.environ.get(SECRETS_ENV)
            or default_secrets_setting(self._absolute_state_url or self.options.state_url),
            "POWERTOOLS_METRICS_NAMESPACE": "lambda-connect",
            "LAMBDA_CONNECT_DEADLINE_MARGIN_MS": os.environ.get("LAMBDA_CONNECT_DEADLINE_MARGIN_MS",
                                                                LOCAL_DEADLINE_MARGIN_MS),
        })
        if self.broker is not None:
            env["LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN"] = "1"
            for key, value in EMBEDDED_BROKER_CLIENT_ENV.items():
                env[key] = os.environ.get(key, value)
        if self.options.json_logs:
            env["LAMBDA_CONNECT_JSON_LOGS"] = "1"
        else:
            env["POWERTOOLS_METRICS_DISABLED"] = "true"  # EMF lines would drown the human log
        env.update(self.options.extra_env)
        return env

    def register(self, config: Mapping[str, str]) -> str:
        """Create or update a connector from a config map (its ``name`` key names it), as
        ``connect-standalone`` does with the files on its command line."""
        name = str(config.get("name") or "").strip()
        if not name:
            raise ValueError("a connector file must give the connector's name ('name')")
        created, _ = self.service.put_config(name, dict(config))
        log.info("connector %s %s", name, "created" if created else "updated")
        self.service.take_create_warning(name)  # the service logged it; no response to carry it here
        return name

    def nudge(self, name: str) -> None:
        """Reconcile ``name`` soon (the REST layer calls this after every write)."""
        self._queue.put(name)

    def _topics_changed(self, added: set[str], removed: set[str]) -> None:
        """Reconcile the connectors that pick their topics by pattern."""
        for name in self.store.list_connectors():
            entry = self.store.get_connector(name)
            if entry is not None and str(entry.config.get("topics.regex") or "").strip():
                log.info("connector %s: the cluster's topics changed (new: %s; gone: %s), re-resolving topics.regex",
                         name, ", ".join(sorted(added)) or "-", ", ".join(sorted(removed)) or "-")
                self.nudge(name)

    def reconcile_now(self, name: str) -> Any:
        return self.reconciler.reconcile(name)

    def _reconcile_loop(self) -> None:
        self._reconcile_all()
        while not self._stopping.is_set():
            try:
                name = self._queue.get(timeout=self.options.reconcile_interval)
            except queue.Empty:
                self._reconcile_all()
                continue
            if name is None:
                break
            pending = {name}
            while True:  # coalesce a burst of changes into one pass per connector
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._stopping.set()
                    break
                pending.add(more)
            for item in sorted(pending):
                self._reconcile_one(item)

    def _reconcile_one(self, name: str) -> None:
        try:
            result = self.reconciler.reconcile(name)
        except Exception:  # keep reconciling the others; the next pass retries
            log.exception("reconciling %s failed", name)
            return
        error = ((result.error or "").strip().splitlines() or [""])[-1] if not result.ok else None
        outcome = (result.action, result.state, error)
        changed = self._outcomes.get(name) != outcome
        self._outcomes[name] = outcome
        # A state change or a new error is news; the same outcome again (every periodic pass) is not.
        if error is not None:
            log.log(logging.WARNING if changed else logging.DEBUG, "connector %s: %s", name, error)
        elif result.action == "removed":
            log.log(logging.INFO if changed else logging.DEBUG, "connector %s: removed", name)
        else:
            log.log(logging.INFO if changed else logging.DEBUG, "connector %s: %s", name, result.state or result.action)

    def _reconcile_all(self) -> None:
        try:
            names = self.store.list_connectors()
        except Exception:
            log.exception("listing connectors failed")
            return
        known = set(names)
        platform_names = set(getattr(self.platform, "_esms", {})) | set(getattr(self.platform, "_schedules", {}))
        for name in sorted(known | platform_names):
            if self._stopping.is_set():
                return
            self._reconcile_one(name)
        self.reconciler.idle_sinks(sorted(known))  # the rescan's turn for deferred sink work

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving, finish and commit the batches in flight, close everything."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._queue.put(None)
        if self.server is not None:
            self.server.stop()
        if self._topic_watch is not None:
            self._topic_watch.stop()
        if self._summaries is not None:
            self._summaries.stop()
        if self._reconcile_thread is not None:
            self._reconcile_thread.join(timeout or 30)
        if self._positions_thread is not None:
            self._positions_thread.join(10)
        if self.platform is not None:
            esms = self._mappings()
            self.platform.shutdown(timeout)
            if self._positions_thread is not None:
                self._count_positions(esms)  # the final count, after the last commits
        if self.ledger is not None:
            self.ledger.unregister_instance()
        if self.store is not None:
            try:
                self.store.close()
            except Exception:  # closing a store that failed to open fully
                log.debug("closing the state store failed", exc_info=True)
        if self.broker is not None:
            self.broker.close()
        self._restore_environ()

    def _restore_environ(self) -> None:
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def abort(self) -> None:
        """Exit-now path (second Ctrl-C): skip the batches in flight, but kill the embedded broker,
        which lives in its own process group and would otherwise outlive us."""
        if self.broker is not None:
            self.broker.kill()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Background:
    """``target()`` on a thread of its own; :meth:`result` re-raises what it raised."""

    def __init__(self, target: Any, name: str) -> None:
        self._target = target
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as e:  # handed to the starting thread by result()
            self._error = e

    def join(self) -> None:
        self._thread.join()

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


def _store_reads_environment(url: str) -> bool:
    """Whether opening the store at ``url`` reads the process environment the runtime sets up
    (DynamoDB's client takes its region, endpoint and credentials from it); the SQL and memory
    stores read nothing but the URL, so they are opened while the embedded broker starts."""
    return url.split(":", 1)[0].lower() == "dynamodb"


def _import_store_backend(url: str) -> None:
    """Import the DynamoDB store's module and boto3 (a few hundred milliseconds) while the embedded
    broker starts. A module that cannot be imported is left for ``open_store`` to report."""
    import importlib

    for module in ("lambda_connect.state.dynamodb", "boto3"):
        try:
            importlib.import_module(module)
        except ImportError:
            log.debug("%s (for the %s state store) did not import ahead", module, url.split(":", 1)[0], exc_info=True)
            return


def absolute_state_url(url: str) -> str:
    """A ``sqlite:///relative/path`` state URL made absolute against this process's directory
    (another process, such as ``lambda-connect invoke``, may run elsewhere); others unchanged."""
    if not url.lower().startswith("sqlite") or "///" not in url:
        return url
    head, rest = url.split("///", 1)
    path, sep, query = rest.partition("?")
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    return f"{head}///{Path(path).absolute()}{sep}{query}"


def _prepare_sqlite(url: str) -> None:
    """Create the directory of a ``sqlite:///path`` state database (``.lambda-connect/``)."""
    if not url.lower().startswith("sqlite") or "///" not in url:
        return
    path = url.split("///", 1)[1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
