"""The MQTT keys both connectors share, and a connected paho client built from them.

paho-mqtt is imported only here, when a task starts, so a handler that never runs an MQTT
connector never loads it. The client speaks MQTT 5 by default: a version 5 client tells the
broker how many unacknowledged messages it accepts (``Receive Maximum``), whereas brokers
cap a 3.1.1 client at a small window (Mosquitto: 20). The source holds every message
unacknowledged until Kafka confirmed it, so that window is what a tick can move per round trip.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    Config,
    ConfigDef,
    ConfigType,
    Importance,
    NonEmptyList,
    Range,
)
from lambda_connect.api.errors import ConfigException, ConnectException, RetriableException

from .._messaging import config_key as _k

__all__ = ["COMMON_DEF", "MqttConnection", "ServerUri", "client_id"]

log = logging.getLogger(__name__)

_CONN, _TLS = "Connection", "TLS"
#: Session expiry sent with MQTT 5 when sessions persist: the session outlives any gap between ticks.
SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RECEIVE_MAXIMUM = 65535
CLOSE_FLUSH_S = 2.0  # longest wait for queued packets (acknowledgements) on close


COMMON_DEF = ConfigDef(
    _k("mqtt.server.uri", ConfigType.LIST, None, "Broker addresses, tried in order: `tcp://host:1883`, or "
       "`ssl://host:8883` for TLS.", _CONN, 1, importance=Importance.HIGH, validator=NonEmptyList()),
    _k("mqtt.username", ConfigType.STRING, None, "User name to log in with.", _CONN, 2),
    _k("mqtt.password", ConfigType.PASSWORD, None, "Password to log in with.", _CONN, 3),
    _k("mqtt.client.id", ConfigType.STRING, "", "Client id. Empty: `<connector name>-<task>`, stable across "
       "ticks so that a persistent session is found again. A task number is appended when set and tasks.max > 1.",
       _CONN, 4),
    _k("mqtt.qos", ConfigType.INT, 0, "Quality of service: 0 at most once, 1 at least once, 2 exactly once "
       "between the broker and this client.", _CONN, 5, importance=Importance.HIGH, validator=Range.between(0, 2)),
    _k("mqtt.clean.session.enabled", ConfigType.BOOLEAN, True, "Start each connection with a fresh session. "
       "false keeps the session (subscriptions and queued messages) at the broker between connections.", _CONN, 6),
    _k("mqtt.connect.timeout.seconds", ConfigType.INT, 30, "How long to wait for the broker to accept the "
       "connection.", _CONN, 7, validator=Range.at_least(1)),
    _k("mqtt.keepalive.interval.seconds", ConfigType.INT, 60, "Keep-alive interval of the connection.", _CONN, 8,
       validator=Range.at_least(0)),
    _k("mqtt.version", ConfigType.STRING, "5", "Protocol version: 5 (default here) or 3.1.1. Version 5 lets "
       "the broker keep many messages in flight to this client; see the connector docs.", _CONN, 9,
       validator=CaseInsensitiveValidString("5", "3.1.1")),
    _k("mqtt.ssl.trust.store.path", ConfigType.STRING, "", "PEM file of the CA certificates that sign the "
       "broker's certificate (used with ssl:// addresses; empty uses the system's).", _TLS, 1),
    _k("mqtt.ssl.key.store.path", ConfigType.STRING, "", "PEM file with the client certificate (and key) for "
       "mutual TLS.", _TLS, 2),
    _k("mqtt.ssl.key.path", ConfigType.STRING, "", "PEM file of the client key when it is not in the key "
       "store file.", _TLS, 3),
    _k("mqtt.ssl.key.password", ConfigType.PASSWORD, None, "Password of the client key.", _TLS, 4),
    _k("mqtt.ssl.hostname.verification.enabled", ConfigType.BOOLEAN, True, "Check that the broker's "
       "certificate names the host.", _TLS, 5),
)


@dataclass(frozen=True)
class ServerUri:
    host: str
    port: int
    tls: bool

    @classmethod
    def parse(cls, text: str) -> ServerUri:
        parts = urllib.parse.urlsplit(text.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("tcp", "mqtt", "ssl", "mqtts", "tls") or not parts.hostname:
            raise ConfigException.for_key("mqtt.server.uri", text, "expected tcp://host:port or ssl://host:port")
        tls = scheme in ("ssl", "mqtts", "tls")
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls)


def client_id(config: Config, connector: str, task: int, tasks_max: int) -> str:
    configured = str(config["mqtt.client.id"] or "").strip()
    if not configured:
        return f"{connector}-{task}"
    return f"{configured}-{task}" if tasks_max > 1 else configured


class MqttConnection:
    """A paho client with its network loop on a background thread, connected to the first broker
    that answers. ``on_message`` runs on that thread."""

    def __init__(self, config: Config, client_id: str, on_message: Callable[[Any], None] | None = None) -> None:
        self.config = config
        self.client_id = client_id
        self.on_message = on_message
        self.v5 = str(config["mqtt.version"]) == "5"
        self.clean = bool(config["mqtt.clean.session.enabled"])
        self.client: Any = None
        self.connected = threading.Event()
        self._answer = threading.Event()
        self._refusal: str | None = None
        self.lost = 0  # connections the broker or network dropped since start
        self.on_connected: Callable[[Any], None] | None = None  # e.g. (re)subscribe, on the loop thread
        self._closing = False
        self._barriers: dict[int, threading.Event] = {}

    def open(self, manual_ack: bool) -> None:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError as e:
            raise ConnectException("The MQTT connectors need paho-mqtt: pip install 'lambda-connect[mqtt]'") from e
        config = self.config
        uris = [ServerUri.parse(u) for u in config["mqtt.server.uri"]]
        kwargs: dict[str, Any] = {"protocol": mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311}
        if not self.v5:
            kwargs["clean_session"] = self.clean
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, manual_ack=manual_ack,
                             reconnect_on_failure=True, **kwargs)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        if config["mqtt.username"]:
            client.username_pw_set(config["mqtt.username"], config.password("mqtt.password"))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_unsubscribe = self._on_unsubscribe
        if self.on_message is not None:
            client.on_message = lambda _c, _u, message: self.on_message(message)  # type: ignore[misc]
        self.client = client
        timeout = float(config["mqtt.connect.timeout.seconds"])
        errors: list[str] = []
        for uri in uris:
            if uri.tls:
                from .._tls import client_context

                client.tls_set_context(client_context(
                    ca_file=config["mqtt.ssl.trust.store.path"] or None,
                    cert_file=config["mqtt.ssl.key.store.path"] or None,
                    key_file=config["mqtt.ssl.key.path"] or None,
                    key_password=config.password("mqtt.ssl.key.password"),
                    verify_hostname=config["mqtt.ssl.hostname.verification.enabled"],
                    setting="mqtt.ssl.trust.store.path"))
            try:
                self._connect(client, uri, timeout)
                return
            except ConnectException as e:
                if isinstance(e, _Refused):
                    self.close()
                    raise
                errors.append(f"{uri.host}:{uri.port}: {e}")
        self.close()
        raise RetriableException("No MQTT broker could be reached: " + "; ".join(errors))

    def _connect(self, client: Any, uri: ServerUri, timeout: float) -> None:
        keepalive = int(self.config["mqtt.keepalive.interval.seconds"]) or 60
        self._answer.clear()
        self._refusal = None
        try:
            if self.v5:
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                props = Properties(PacketTypes.CONNECT)
                props.ReceiveMaximum = RECEIVE_MAXIMUM
                if not self.clean:
                    props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
                client.connect(uri.host, uri.port, keepalive, clean_start=self.clean, properties=props)
            else:
                client.connect(uri.host, uri.port, keepalive)
        except (OSError, ValueError) as e:
            raise ConnectException(str(e) or type(e).__name__) from e
        client.loop_start()
        if not self._answer.wait(timeout):
            client.loop_stop()
            raise ConnectException(f"no answer to CONNECT within {timeout:.0f}s")
        if self._refusal is not None:
            raise _Refused(f"MQTT broker {uri.host}:{uri.port} refused client {self.client_id}: {self._refusal}")

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self._refusal = str(reason)
            self._answer.set()
            return
        if self.on_connected is not None:
            self.on_connected(_client)
        self.connected.set()
        self._answer.set()
        log.debug("MQTT client %s connected", self.client_id)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any = None) -> None:
        if self.connected.is_set() and not self._closing:
            self.lost += 1
        self.connected.clear()
        log.info("MQTT client %s disconnected: %s", self.client_id, reason)

    def barrier(self, timeout_s: float = CLOSE_FLUSH_S) -> bool:
        """Wait until the broker has processed everything sent so far (acknowledgements included).

        MQTT does not answer a PUBACK, but a broker handles a connection's packets in order, so the
        answer to a harmless request sent after them (UNSUBSCRIBE of a filter never subscribed)
        means they were taken. Without this, a close right after the last acknowledgements can
        lose them and the broker sends those messages again."""
        client = self.client
        if client is None or not self.connected.is_set():
            return False
        done = threading.Event()
        result, mid = client.unsubscribe(f"lambda-connect/barrier/{self.client_id}")
        if result != 0:
            return False
        self._barriers[mid] = done
        try:
            return done.wait(timeout_s)
        finally:
            self._barriers.pop(mid, None)

    def _on_unsubscribe(self, _client: Any, _userdata: Any, mid: int, *_rest: Any) -> None:
        waiting = self._barriers.get(mid)
        if waiting is not None:
            waiting.set()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        self._closing = True
        try:
            # Acknowledgements queued just before the end must reach the broker first, or it
            # delivers those messages again next time.
            deadline = time.monotonic() + CLOSE_FLUSH_S
            while self.connected.is_set() and client.want_write() and time.monotonic() < deadline:
                time.sleep(0.005)
            client.disconnect()
            while self.connected.is_set() and time.monotonic() < deadline:
                time.sleep(0.005)
        except Exception:  # closing must not raise; the broker drops a dead connection by itself
            log.debug("MQTT disconnect failed", exc_info=True)
        client.loop_stop()


class _Refused(ConnectException):
    """The broker answered CONNECT with a refusal (credentials, client id): retrying cannot help."""
