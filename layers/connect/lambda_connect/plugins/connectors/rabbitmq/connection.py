"""The RabbitMQ keys both connectors share, and a pika connection opened from them.

pika is imported here only, when a task starts. Failures are sorted the way the runtime needs
them: refused credentials or a missing virtual host are configuration problems (a
``ConnectException`` that names them), a server that cannot be reached is transient
(``RetriableException``: the next invocation tries again).
"""

from __future__ import annotations

import ssl
from typing import Any

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    Config,
    ConfigDef,
    ConfigType,
    Importance,
    Range,
)
from lambda_connect.api.errors import ConnectException, RetriableException

from .._messaging import config_key as _k

__all__ = ["COMMON_DEF", "connect", "describe"]

_CONN, _TLS = "Connection", "TLS"


COMMON_DEF = ConfigDef(
    _k("rabbitmq.host", ConfigType.STRING, "localhost", "RabbitMQ server host.", _CONN, 1, importance=Importance.HIGH),
    _k("rabbitmq.port", ConfigType.INT, 5672, "RabbitMQ server port (5671 is the usual TLS port).", _CONN, 2,
       validator=Range.between(1, 65535)),
    _k("rabbitmq.username", ConfigType.STRING, "guest", "User to log in as.", _CONN, 3, importance=Importance.HIGH),
    _k("rabbitmq.password", ConfigType.PASSWORD, "guest", "Password of that user.", _CONN, 4,
       importance=Importance.HIGH),
    _k("rabbitmq.virtual.host", ConfigType.STRING, "/", "Virtual host to open.", _CONN, 5, importance=Importance.HIGH),
    _k("rabbitmq.connection.timeout.ms", ConfigType.INT, 60000, "How long to wait for the TCP connection and "
       "the AMQP handshake.", _CONN, 6, validator=Range.at_least(1)),
    _k("rabbitmq.requested.heartbeat.seconds", ConfigType.INT, 60, "Heartbeat interval to ask the server for; "
       "0 turns heartbeats off.", _CONN, 7, validator=Range.at_least(0)),
    _k("rabbitmq.security.protocol", ConfigType.STRING, "PLAINTEXT", "PLAINTEXT or SSL (TLS).", _TLS, 1,
       validator=CaseInsensitiveValidString("PLAINTEXT", "SSL")),
    _k("rabbitmq.ssl.truststore.location", ConfigType.STRING, "", "PEM file of the CA certificates that sign the "
       "server's certificate; empty uses the system's.", _TLS, 2),
    _k("rabbitmq.ssl.keystore.location", ConfigType.STRING, "", "PEM file with the client certificate (and key) "
       "for mutual TLS.", _TLS, 3),
    _k("rabbitmq.ssl.key.location", ConfigType.STRING, "", "PEM file of the client key when it is not in the key "
       "store file.", _TLS, 4),
    _k("rabbitmq.ssl.key.password", ConfigType.PASSWORD, None, "Password of the client key.", _TLS, 5),
    _k("rabbitmq.ssl.hostname.verification.enabled", ConfigType.BOOLEAN, True, "Check that the server's "
       "certificate names the host.", _TLS, 6),
)


def describe(config: Config) -> str:
    return f"amqp{'s' if _tls(config) else ''}://{config['rabbitmq.host']}:{config['rabbitmq.port']}" \
           f"{config['rabbitmq.virtual.host']}"


def _tls(config: Config) -> bool:
    return str(config["rabbitmq.security.protocol"]).upper() == "SSL"


def parameters(config: Config) -> Any:
    """pika ``ConnectionParameters`` for ``config`` (TLS options included)."""
    import pika

    ssl_options = None
    if _tls(config):
        from .._tls import client_context

        context = client_context(
            ca_file=config["rabbitmq.ssl.truststore.location"] or None,
            cert_file=config["rabbitmq.ssl.keystore.location"] or None,
            key_file=config["rabbitmq.ssl.key.location"] or None,
            key_password=config.password("rabbitmq.ssl.key.password"),
            verify_hostname=config["rabbitmq.ssl.hostname.verification.enabled"],
            setting="rabbitmq.ssl.truststore.location")
        ssl_options = pika.SSLOptions(context, config["rabbitmq.host"])
    timeout = config["rabbitmq.connection.timeout.ms"] / 1000.0
    return pika.ConnectionParameters(
        host=config["rabbitmq.host"], port=config["rabbitmq.port"], virtual_host=config["rabbitmq.virtual.host"],
        credentials=pika.PlainCredentials(config["rabbitmq.username"], config.password("rabbitmq.password") or ""),
        heartbeat=config["rabbitmq.requested.heartbeat.seconds"], ssl_options=ssl_options,
        socket_timeout=timeout, stack_timeout=timeout, blocked_connection_timeout=timeout,
        connection_attempts=1)


def connect(config: Config) -> Any:
    """A ``pika.BlockingConnection``, or the error that explains why there is none."""
    try:
        import pika
        import pika.exceptions as px
    except ImportError as e:
        raise ConnectException("The RabbitMQ connectors need pika: pip install 'lambda-connect[rabbitmq]'") from e
    params = parameters(config)
    where = describe(config)
    try:
        return pika.BlockingConnection(params)
    except (px.ProbableAuthenticationError, px.AuthenticationError) as e:
        raise ConnectException(f"RabbitMQ at {where} refused user '{config['rabbitmq.username']}' "
                               f"(rabbitmq.username / rabbitmq.password): {e!r}") from e
    except px.ProbableAccessDeniedError as e:
        raise ConnectException(f"RabbitMQ at {where} denied access to virtual host "
                               f"'{config['rabbitmq.virtual.host']}' for user '{config['rabbitmq.username']}': "
                               f"{e!r}") from e
    except ssl.SSLError as e:
        raise ConnectException(f"TLS with RabbitMQ at {where} failed: {e} (does that port speak TLS? does "
                               "rabbitmq.ssl.truststore.location hold the CA that signed it?)") from e
    except (px.AMQPError, OSError) as e:
        raise RetriableException(f"RabbitMQ at {where} cannot be reached: {e!r}") from e
