"""HTTP-level failures of the REST API, each carrying Kafka Connect's status code and message.

Resources raise these (or the ``api.errors`` tree, which the router maps the way Kafka's
``ConnectExceptionMapper`` does); the router turns every one into the error body
``{"error_code": <status>, "message": <text>}`` that Kafka Connect clients parse.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "PayloadTooLarge",
    "RestError",
    "STALE_CONFIG_MESSAGE",
    "ServerError",
    "UnsupportedMediaType",
]

#: The answer to a lost optimistic-concurrency race (clients retry on 409).
STALE_CONFIG_MESSAGE = (
    "Request refused: it was based on a stale configuration, most likely because another request changed the "
    "connector at the same moment; send it again"
)


class RestError(Exception):
    """A response that is an error: ``status`` is both the HTTP status and ``error_code``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadRequest(RestError):
    """400: the request is understood but its content is not acceptable."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class ServerError(RestError):
    """500: what Kafka Connect answers for body binding failures and plugin-loading errors."""

    def __init__(self, message: str) -> None:
        super().__init__(500, message)


class PayloadTooLarge(RestError):
    """413: the body is over the limit, refused before it is parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body is larger than the limit of {limit} bytes")


class UnsupportedMediaType(RestError):
    """415: a body-carrying request whose ``Content-Type`` is not JSON (Kafka's resources
    consume ``application/json`` only; Jersey answers with its generic message)."""

    def __init__(self) -> None:
        super().__init__(415, "HTTP 415 Unsupported Media Type")
