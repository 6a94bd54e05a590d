"""An emulated event source mapping whose poller runs in a process of its own.

In AWS, a Kafka mapping's pollers are Lambda's machines, not the function's: consuming, decoding
and rendering the event cost the function nothing. In one Python process the poller and the
handler would take turns on one interpreter lock, so a sink drained through ``lambda-connect up``
would run at the speed of both added together. Here the poller (consumer, batching, the event's
bytes, retries, commits: all of :class:`~lambda_connect.local.esm.EsmEmulator`) runs in a child
process, and only the invocation crosses over: the child sends the event's JSON bytes, this
process parses them as the Lambda runtime does, runs the handler (which needs this process's
state store, secrets and platform) and sends the result back. The handler therefore sees exactly
the payload a thread-mode mapping would give it; the two modes differ only in where the poller's
CPU is spent.

The pair talks over a socket pair, one message at a time, each a one-byte kind then its body:

* child → parent: ``I`` + the event's JSON (an invocation), ``S`` + pickled counters (after each
  change), ``L`` + a pickled log record (the child's log lines join this process's logging);
* parent → child: ``R`` + pickled ``(result, timed_out, error text)``, ``X`` (stop after the batch
  in flight).

The child ends with its parent: a thread of it always waits on the socket, and exits the process
the moment the socket reports end of file (the kernel closes the parent's end when the parent
dies, however it dies), so a killed ``up`` never leaves a consumer behind in the group. (Linux's
``PR_SET_PDEATHSIG`` would not do: it fires when the parent *thread* that started the child
ends, and mappings are started from whichever thread reconciles.) It ignores SIGINT and
SIGTERM: a Ctrl-C reaches the whole process group, and stopping is the parent's call (it lets
the batch in flight finish and be committed first).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any

from lambda_connect.aws.kafka_clients import KafkaSettings
from lambda_connect.runtime.lambda_config import LambdaSettings

from . import esm as esm_module
from .esm import EsmEmulator, EsmStats, Invoker, _Call, load_ahead, run_invocation

__all__ = ["ENV_POLLER", "EsmProcess", "make_esm", "poller_mode"]

log = logging.getLogger(__name__)

#: ``process`` (the default) or ``thread``: where ``up`` runs its mappings' pollers.
ENV_POLLER = "LAMBDA_CONNECT_ESM_POLLER"
_ENV_SYS_PATH = "LAMBDA_CONNECT_ESM_SYS_PATH"
_INVOKE, _STATS, _LOG, _RESULT, _STOP = b"I", b"S", b"L", b"R", b"X"
#: How the child is started: its import path comes from the parent (a test or benchmark may run
#: the package from a directory that is not installed), then it serves the socket on fd argv[1].
_BOOTSTRAP = (
    f"import os, sys; sys.path[:0] = [p for p in os.environ.get({_ENV_SYS_PATH!r}, '').split(os.pathsep) if p]; "
    "from lambda_connect.local.esm_process import child_main; child_main(int(sys.argv[1]))"
)


def poller_mode() -> str:
    """``process`` or ``thread``, from ``LAMBDA_CONNECT_ESM_POLLER``; anything else is refused."""
    mode = os.environ.get(ENV_POLLER, "process").strip().lower() or "process"
    if mode not in ("process", "thread"):
        raise ValueError(f"{ENV_POLLER}={mode!r}: expected process or thread")
    return mode


def make_esm(*, mode: str | None = None, **kwargs: Any) -> EsmEmulator | EsmProcess:
    """A mapping with its poller where ``mode`` (default: ``poller_mode()``) says."""
    if (mode or poller_mode()) == "thread":
        return EsmEmulator(**kwargs)
    return EsmProcess(**kwargs)


class EsmProcess:
    """The parent's side: the same interface as :class:`EsmEmulator` (``start``, ``stop``,
    ``request_stop``, ``running``, ``state``, ``stats``), with the poller in a child process."""

    def __init__(
        self,
        *,
        connector: str,
        topic: str,
        consumer_group: str,
        settings: LambdaSettings,
        invoke: Invoker,
        function_name: str,
        function_arn: str,
        timeout_ms: int,
        kafka: KafkaSettings,
        retry_backoff_max: float = 5.0,
        uuid_: str | None = None,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        # The child builds its EsmEmulator from these; building one here checks them and gives
        # the mapping its id and the invocation target once.
        self._poller = EsmEmulator(
            connector=connector, topic=topic, consumer_group=consumer_group, settings=settings, invoke=invoke,
            function_name=function_name, function_arn=function_arn, timeout_ms=timeout_ms, kafka=kafka,
            retry_backoff_max=retry_backoff_max, uuid_=uuid_, consumer_overrides=consumer_overrides,
        )
        self._child_args = {
            "connector": connector, "topic": topic, "consumer_group": consumer_group, "settings": settings,
            "function_name": function_name, "function_arn": function_arn, "timeout_ms": timeout_ms, "kafka": kafka,
            "retry_backoff_max": retry_backoff_max, "uuid_": self._poller.uuid,
            "consumer_overrides": dict(consumer_overrides or {}),
        }
        self.connector, self.topic, self.consumer_group = connector, topic, consumer_group
        self.settings = settings
        self.uuid = self._poller.uuid
        self._invoke = invoke
        self.stats = EsmStats()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._bridge: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._reply_lost = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """The mapping polls until its child has exited and every message of it is handled."""
        return self._bridge is not None and self._bridge.is_alive()

    @property
    def state(self) -> str:
        if self.running:
            return "Disabling" if self._stop.is_set() else "Enabled"
        return "Disabled"

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        parent_end, child_end = socket.socketpair()
        env = {**os.environ, _ENV_SYS_PATH: os.pathsep.join(p for p in sys.path if p)}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL, close_fds=True,
            )
        finally:
            child_end.close()
        self._conn = Connection(parent_end.detach())
        config = {
            "args": self._child_args,
            "max_payload": self._poller._max_payload,
            "read_ahead": self._poller._read_ahead_on,
            "stats": asdict(self.stats),  # a restarted mapping counts on, as one in thread mode does
            "log_level": logging.getLogger("lambda_connect").getEffectiveLevel(),
        }
        self._send(b"C" + pickle.dumps(config))
        self._bridge = threading.Thread(target=self._serve, name=f"esm-{self.connector}-{self.topic}-invoke",
                                        daemon=True)
        self._bridge.start()

    def request_stop(self) -> None:
        """Ask the poller to stop after the batch in flight (it commits, then closes)."""
        self._stop.set()
        with contextlib.suppress(OSError):  # the child is gone already
            self._send(_STOP)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop and wait; True when the poller has exited."""
        self.request_stop()
        bridge = self._bridge
        if bridge is None:
            return True
        bridge.join(timeout)
        return not bridge.is_alive()

    # ------------------------------------------------------------------ the parent's side of the socket
    def _send(self, message: bytes) -> None:
        conn = self._conn
        if conn is None:
            raise OSError("no poller process")
        with self._send_lock:
            conn.send_bytes(message)

    def _serve(self) -> None:
        """Run the invocations the child asks for, on this one thread (the container's), until the
        child has exited."""
        conn, process = self._conn, self._process
        assert conn is not None and process is not None
        load_ahead(self._invoke)
        target = self._poller.target
        try:
            while True:
                try:
                    message = conn.recv_bytes()
                except (EOFError, OSError):
                    break
                kind, body = message[:1], memoryview(message)[1:]
                if kind == _INVOKE:
                    self._reply_lost = False
                    run_invocation(self._invoke, target, body, self._reply)
                    if self._reply_lost:
                        break  # the child died while the handler ran: nothing is committed
                elif kind == _STATS:
                    self._take_stats(pickle.loads(body))
                elif kind == _LOG:
                    record = logging.makeLogRecord(pickle.loads(body))
                    logging.getLogger(record.name).handle(record)
        finally:
            code = process.wait()
            conn.close()
            if code != 0 and not self._stop.is_set():
                self.stats.last_error = self.stats.last_error or f"poller process exited with code {code}"
                log.error("event source mapping %s for %s: its poller process exited with code %s",
                          self.uuid, self.topic, code)

    def _reply(self, result: Any, timed_out: bool, error: str | None) -> None:
        """The invocation's outcome, sent to the child as soon as the handler returns."""
        try:
            self._send(_RESULT + _pickled_result((result, timed_out, error)))
        except OSError:
            self._reply_lost = True

    def _take_stats(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(self.stats, name, value)


def _pickled_result(reply: tuple[Any, bool, str | None]) -> bytes:
    """The reply for the child; a result that cannot cross the process boundary fails the invocation
    with the reason, as a result Lambda cannot serialise does."""
    try:
        return pickle.dumps(reply)
    except Exception as e:
        return pickle.dumps((None, False, f"the handler's result cannot be returned: {type(e).__name__}: {e}"))


# ---------------------------------------------------------------------- the child's side
class _RemoteInvoker:
    """The invoker of a child's mapping: each payload goes to the parent; one call is in flight at
    a time (a mapping invokes once per batch), its reply arrives on the reader thread."""

    def __init__(self, child: _ChildChannel) -> None:
        self._child = child

    def submit(self, payload: bytes) -> _Call:
        call = _Call(payload)
        self._child.pending = call
        try:
            self._child.send(_INVOKE + payload)
        except OSError:
            os._exit(0)  # the parent is gone: so is the function, and nothing may be committed
        return call

    def close(self) -> None:
        """Nothing to release: the socket closes with the child."""


class _ChildChannel:
    """The child's socket: sends from the poller and the log handler, replies read on a thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pending: _Call | None = None
        self._lock = threading.Lock()

    def send(self, message: bytes) -> None:
        with self._lock:
            self.conn.send_bytes(message)

    def read(self, mapping: EsmEmulator) -> None:
        """Replies and stop requests until the parent closes its end; then the child ends at once."""
        while True:
            try:
                message = self.conn.recv_bytes()
            except (EOFError, OSError):
                os._exit(0)
            kind = message[:1]
            if kind == _RESULT:
                call, self.pending = self.pending, None
                if call is not None:
                    call.result, call.timed_out, call.error = pickle.loads(message[1:])
                    call.done.set()
            elif kind == _STOP:
                mapping.request_stop()


class _ChildMapping(EsmEmulator):
    """The mapping as the child runs it: invocations and counters go to the parent."""

    channel: _ChildChannel

    def _make_invoker(self) -> Any:
        return _RemoteInvoker(self.channel)

    def _stats_changed(self) -> None:
        try:
            self.channel.send(_STATS + pickle.dumps(asdict(self.stats)))
        except OSError:
            os._exit(0)


class _ForwardingHandler(logging.Handler):
    """Hands the child's log records to the parent, already formatted (arguments and traceback
    folded into the text), so the parent's handlers and filters treat them as its own."""

    def __init__(self, channel: _ChildChannel) -> None:
        super().__init__()
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = dict(record.__dict__)
            fields["msg"] = record.getMessage()
            fields["args"] = None
            if record.exc_info:
                fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
            fields["exc_info"] = None
            self._channel.send(_LOG + pickle.dumps(fields))
        except Exception:  # a log line must never stop the poller
            self.handleError(record)


def child_main(fd: int) -> None:
    """The poller process: build the mapping from the parent's first message and run it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        first = conn.recv_bytes()
    except (EOFError, OSError):
        return
    if first[:1] != b"C":
        raise SystemExit("the poller process expected its configuration first")
    config = pickle.loads(first[1:])
    channel = _ChildChannel(conn)
    root = logging.getLogger()
    root.handlers[:] = [_ForwardingHandler(channel)]
    root.setLevel(config["log_level"])
    esm_module.MAX_PAYLOAD_BYTES = config["max_payload"]
    esm_module.READ_AHEAD = config["read_ahead"]
    mapping = _ChildMapping(invoke=_never_called, **config["args"])
    mapping.channel = channel
    for name, value in config["stats"].items():
        setattr(mapping.stats, name, value)
    threading.Thread(target=channel.read, args=(mapping,), name="esm-replies", daemon=True).start()
    mapping._run()  # returns once stopped (batch in flight committed, consumer closed) or failed
    conn.close()


def _never_called(event: Any, context: Any) -> Any:
    raise RuntimeError("a child's mapping invokes through its parent")
