"""``lambda-connect up``: the whole system on one machine, through the same handlers as Lambda.

Kafka Connect's standalone mode and more: connector files on the command line (JSON, or
``.properties`` as ``connect-standalone`` takes them) are created or updated at start; the REST
API listens on 127.0.0.1:8083; Kafka is the given cluster or an embedded broker whose address
is printed. The embedded broker keeps its topics in memory unless ``--broker-storage s3://…``
says otherwise; a start after a run whose in-memory topics are gone says per connector what
that lost. Ctrl-C finishes the batches in flight, commits and closes; a second Ctrl-C exits
at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

from lambda_connect.api.errors import ConfigException
from lambda_connect.state.base import DEFAULT_STATE_URL

from ._config import load_connector_config, print_config_errors
from .standalone import WorkerSettings, apply_worker_converters, is_worker_config, worker_settings

__all__ = ["EXIT_NOW", "configure_logging", "register", "run"]

#: Exit status after a second Ctrl-C (128 + SIGINT, as a shell reports a process killed by it):
#: the batches in flight were abandoned, uncommitted, and are redelivered on the next start.
EXIT_NOW = 130


def configure_logging(log_format: str, level: str = "INFO") -> None:
    """Human-readable lines on stderr by default; ``json`` uses Powertools' JSON formatter for
    every logger, on stdout: the handlers' Powertools loggers and EMF metrics write there (it is
    the Lambda log stream), so one stream carries every JSON record."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stdout if log_format == "json" else sys.stderr)
    if log_format == "json":
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        handler.setFormatter(LambdaPowertoolsFormatter(service="lambda-connect-local"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    if log_format != "json":
        # Metrics are disabled in a human log (EMF lines would drown it); Powertools then warns on
        # every re-added dimension, which says nothing to a person watching the log.
        warnings.filterwarnings("ignore", message="Dimension .* has already been added")


def _load_connectors(paths: list[str]) -> tuple[list[dict[str, str]], WorkerSettings | None]:
    """The connector files, and the settings of a connect-standalone worker file given first."""
    configs: list[dict[str, str]] = []
    worker: WorkerSettings | None = None
    for index, path in enumerate(paths):
        config = load_connector_config(path)
        if index == 0 and is_worker_config(config):
            worker = worker_settings(config)
            notice = worker.notice(path)
            if notice:
                logging.getLogger("lambda_connect.up").warning(notice)
            continue
        if not config.get("name"):
            hint = (" (a connect-standalone worker file goes first)" if is_worker_config(config) else "")
            raise ConfigException(errors={path: [f"{path} names no connector: add a \"name\" key{hint}"]})
        configs.append(apply_worker_converters(config, worker.converters) if worker else config)
    return configs, worker


def kafka_line(runtime: Any) -> str:
    """The banner's Kafka line: where the broker is and whether its topics outlive this run."""
    broker = runtime.broker
    if broker is None:
        return f"{runtime.bootstrap_servers} (external)"
    if broker.in_memory:
        return (f"{runtime.bootstrap_servers} (embedded tansu broker; topics in memory, gone when up stops:"
                " --broker-storage s3://BUCKET/ or --bootstrap-servers keep them)")
    return f"{runtime.bootstrap_servers} (embedded tansu broker; topics in {broker.storage})"


def banner(runtime: Any, state: str) -> str:
    text = (f"lambda-connect is up\n  REST API: {runtime.url}\n  Kafka:    {kafka_line(runtime)}\n"
            f"  State:    {state}\n")
    if runtime.previous_run_report:
        text += "Earlier run:\n" + "".join(f"  ! {line}\n" for line in runtime.previous_run_report)
    return text + "Press Ctrl-C to stop.\n"


def port_in_use(host: str, port: int) -> bool:
    """Whether another process holds ``host:port`` (so start-up can name the port, not errno 98)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: a port left in TIME_WAIT by the last run is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _busy_ports(args: argparse.Namespace) -> list[str]:
    busy = []
    if args.port and port_in_use(args.bind, args.port):
        busy.append(f"the REST port {args.bind}:{args.port} is already in use (another lambda-connect up?): "
                    "stop it, or pass --port")
    if args.broker_port and not args.bootstrap_servers and port_in_use("127.0.0.1", args.broker_port):
        busy.append(f"the broker port 127.0.0.1:{args.broker_port} is already in use: stop what holds it, pass "
                    "another --broker-port, or leave it out for a free port")
    return busy


def summary_interval_of(flag: float | None) -> float:
    """Seconds between the per-connector summaries: ``--summary-interval``, else
    ``$LAMBDA_CONNECT_SUMMARY_INTERVAL``, else 60; 0 turns them off."""
    from lambda_connect.local.summary import DEFAULT_SUMMARY_INTERVAL_S, SUMMARY_INTERVAL_ENV

    if flag is not None:
        value, source = float(flag), "--summary-interval"
    else:
        raw = os.environ.get(SUMMARY_INTERVAL_ENV, "").strip()
        if not raw:
            return DEFAULT_SUMMARY_INTERVAL_S
        source = f"${SUMMARY_INTERVAL_ENV}"
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{source}={raw!r} is not a number of seconds (0 turns the summaries off)") from None
    if value < 0 or value != value:
        raise ValueError(f"{source} must be 0 (no summaries) or a positive number of seconds, got {value}")
    return value


def run(args: argparse.Namespace) -> int:
    from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

    configure_logging(args.log_format, args.log_level)
    try:
        connectors, worker = _load_connectors(args.connectors)
    except ConfigException as e:
        print_config_errors(e.errors or {"<config>": [str(e)]}, sys.stderr)
        return 2
    busy = _busy_ports(args)
    if busy:
        for line in busy:
            sys.stderr.write(f"Error: {line}\n")
        return 1
    bootstrap = args.bootstrap_servers or (worker.bootstrap_servers if worker else None)
    try:
        summary_interval = summary_interval_of(args.summary_interval)
        from lambda_connect.local.esm_process import poller_mode

        poller_mode()  # a bad $LAMBDA_CONNECT_ESM_POLLER is refused here, not at the first sink
    except ValueError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 2
    options = RuntimeOptions(
        connectors=connectors, bootstrap_servers=bootstrap, broker_storage=args.broker_storage,
        broker_port=args.broker_port,
        state_url=args.state, port=args.port,
        bind=args.bind, root=Path(args.root) if args.root else None, json_logs=args.log_format == "json",
        sink_timeout_seconds=args.sink_timeout, source_timeout_seconds=args.source_timeout,
        summary_interval=summary_interval,
    )
    stop = threading.Event()
    presses = 0
    runtime = LocalRuntime(options)

    def on_signal(signum: int, frame: Any) -> None:
        # os.write, not sys.stderr: the main thread may be inside a buffered write (a log line
        # of the shutdown) when the signal arrives, and re-entering it would raise instead of exit.
        nonlocal presses
        presses += 1
        if presses > 1:
            os.write(2, b"\nExiting now.\n")
            runtime.abort()
            os._exit(EXIT_NOW)
        os.write(2, "\nStopping: finishing the batches in flight (Ctrl-C again to exit now)…\n".encode())
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            runtime.start()
        except Exception as e:
            sys.stderr.write(f"Error: cannot start the local runtime: {e}\n")
            return 1
        sys.stdout.write(banner(runtime, args.state))
        sys.stdout.flush()
        stop.wait()
    finally:
        runtime.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("up", help="run the REST API, reconciler, sink mappings and source schedules locally")
    p.add_argument("connectors", nargs="*", metavar="CONNECTOR_FILE",
                   help="connector configs (JSON or .properties) to create or update at start; a "
                        "connect-standalone worker file may come first")
    p.add_argument("--bootstrap-servers", metavar="HOST:PORT",
                   help="use this Kafka cluster (default: an embedded tansu broker)")
    p.add_argument("--broker-storage", metavar="URL",
                   help="where the embedded broker keeps its topics: memory:// (default; lost when up stops) or "
                        "s3://BUCKET/ (kept; endpoint and credentials from the AWS_* environment variables)")
    p.add_argument("--broker-port", type=int, metavar="PORT",
                   help="pin the embedded broker to 127.0.0.1:PORT (default: a free port each start)")
    p.add_argument("--state", default=DEFAULT_STATE_URL, metavar="URL",
                   help=f"state store URL (default {DEFAULT_STATE_URL})")
    p.add_argument("--port", type=int, default=8083, help="REST port (default 8083)")
    p.add_argument("--bind", default="127.0.0.1", help="REST address (default 127.0.0.1)")
    p.add_argument("--log-format", choices=["human", "json"], default="human")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="INFO (default): state changes, errors and a summary per connector; DEBUG adds every "
                        "reconcile pass and idle tick")
    p.add_argument("--summary-interval", type=float, metavar="SECONDS",
                   help="seconds between the one-line INFO summaries per connector (default 60, or "
                        "$LAMBDA_CONNECT_SUMMARY_INTERVAL; 0 turns them off)")
    p.add_argument("--sink-timeout", type=int, metavar="SECONDS",
                   help="sink function timeout (default: the template's Timeout)")
    p.add_argument("--source-timeout", type=int, default=4, metavar="SECONDS",
                   help="source function timeout (default 4 s locally, so a pause is felt at once)")
    p.add_argument("--root", help="project directory with template.yaml and functions/ (default: found from cwd)")
    p.set_defaults(handler=run)
