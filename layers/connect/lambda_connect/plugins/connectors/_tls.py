"""Client-side TLS for the messaging connectors (HTTP, MQTT, RabbitMQ, Redis).

Java connectors name key stores and trust stores; Python's ``ssl`` reads PEM files, so every
``*.truststore*``/``*.keystore*`` key of those connectors takes the path of a PEM file here
(a CA bundle for the trust store, a certificate chain plus private key for the key store).
Kept in one place so that the four connectors verify servers the same way.
"""

from __future__ import annotations

import ssl

from lambda_connect.api.errors import ConfigException

__all__ = ["client_context"]


def client_context(
    *,
    ca_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    key_password: str | None = None,
    verify_hostname: bool = True,
    verify: bool = True,
    setting: str = "TLS",
) -> ssl.SSLContext:
    """A client ``SSLContext``; ``setting`` names the config key a bad file is reported under."""
    context = ssl.create_default_context()
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        if cert_file:
            context.load_cert_chain(cert_file, key_file or None, password=key_password or None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigException.for_key(setting, ca_file or cert_file, f"cannot load the PEM file: {e}") from e
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not verify_hostname:
        context.check_hostname = False
    return context
