"""HttpSinkConnector: records as HTTP requests, Confluent's keys and behaviour (Aiven's keys too).

Per batch, in consumption order: records bound for the same URL are joined into requests of
up to ``batch.max.size`` records (``batch.prefix`` + values joined by ``batch.separator`` +
``batch.suffix``, or a JSON array), and requests are sent one after the other, so the web
service sees each partition's records in offset order.

What an answer means:

* 2xx — the records are delivered.
* a status in ``retry.on.status.codes`` (default 429 and 5xx), a timeout or a broken
  connection — retried after ``retry.backoff.ms`` (exponential with jitter; a ``Retry-After``
  header sets the wait), at most ``max.retries`` times and never waiting longer than
  ``retry.backoff.max.ms`` at once. When the retries run out the task raises a
  ``RetriableException``: the batch is not committed and Kafka delivers it again.
* any other status — each record of the request goes to the shared error path (the errant
  record reporter: ``errors.tolerance``, the dead letter queue). The error message carries the
  method, URL, status and the start of the response body, which is what the DLQ's
  ``__connect.errors.exception.message`` header then shows.

Delivery is at least once: a batch that is delivered again (the invocation failed after some
requests went out) sends those requests again. One connection pool per settings
(``transport.Transport``, keep-alive on ``http.client``) is kept for the container's life, so warm
invocations reuse its connections.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lambda_connect.api.config import ConfigValue
from lambda_connect.api.connector import SinkConnector, SinkTask, Task, TopicPartition
from lambda_connect.api.data import Struct
from lambda_connect.api.errors import ConfigException, ConnectException, DataException, RetriableException
from lambda_connect.api.records import SinkRecord

from .._messaging import json_bytes, reject
from .auth import Credentials
from .config import CONFIG_DEF, URL, HttpSettings, effective_props
from .reporter import ResponseReporter
from .transport import CertificateRefused, Transport, TransportError

__all__ = ["HttpResponseError", "HttpSinkConnector", "HttpSinkTask"]

log = logging.getLogger(__name__)

_BODY_SHOWN = 2000  # characters of a response body kept in an error message
_clients: dict[tuple[Any, ...], Transport] = {}
_clients_lock = threading.Lock()


class HttpResponseError(ConnectException):
    """The server answered a request with a status that is neither success nor worth retrying."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status, self.body = status, body
        super().__init__(f"HTTP {method} {url} answered {status}: {body[:_BODY_SHOWN]}")


def _client(s: HttpSettings) -> Transport:
    """The connection pool for these settings, built once per container."""
    key = (s.connect_timeout_s, s.request_timeout_s, s.proxy, s.ca_file, s.cert_file, s.key_file, s.key_password,
           s.verify_hostname, s.verify)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            from .._tls import client_context

            context = client_context(ca_file=s.ca_file, cert_file=s.cert_file, key_file=s.key_file,
                                     key_password=s.key_password, verify_hostname=s.verify_hostname,
                                     verify=s.verify, setting="https.ssl.truststore.location")
            client = Transport(connect_timeout_s=s.connect_timeout_s, request_timeout_s=s.request_timeout_s,
                               ssl_context=context, proxy=s.proxy)
            _clients[key] = client
        return client


def _key_text(key: Any) -> str:
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("utf-8", errors="replace")
    if isinstance(key, Struct):
        return json_bytes(key).decode()
    return "" if key is None else str(key)


class HttpSinkTask(SinkTask):
    """Sends each batch as it is put; ``flush`` only waits for the response reporter."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.s: HttpSettings | None = None
        self.credentials: Credentials | None = None
        self.reporter: ResponseReporter | None = None
        self.sleep = sleep
        self.requests = 0  # requests sent, retries included (for tests and metrics)

    def version(self) -> str:
        return HttpSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self.s = HttpSettings.parse(props)
        self.credentials = Credentials(self.s)
        self.reporter = ResponseReporter(self.s) if self.s.reporter_servers else None
        self._url_has_key = "${key}" in self.s.url
        self._url_has_topic = "${topic}" in self.s.url
        self._encode = json_bytes if self.s.json_body else self._text
        content_type = "application/json" if self.s.json_body or self.s.json_array else "text/plain"
        self._headers = {"Content-Type": content_type, **dict(self.s.headers)}

    # --- shaping requests ---------------------------------------------------------------
    def _url(self, record: SinkRecord) -> str:
        url = self.s.url  # type: ignore[union-attr]
        if self._url_has_topic:
            url = url.replace("${topic}", urllib.parse.quote(record.topic, safe=""))
        if self._url_has_key:
            url = url.replace("${key}", urllib.parse.quote(_key_text(record.key), safe=""))
        return url

    @staticmethod
    def _text(value: Any) -> bytes:
        if isinstance(value, str):
            return value.encode()
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        return json_bytes(value)

    def _chunks(self, records: Sequence[SinkRecord]) -> Iterator[tuple[str, str, list[SinkRecord]]]:
        """``(method, url, records)`` per request, keeping consumption order."""
        s = self.s
        assert s is not None
        if not (self._url_has_key or self._url_has_topic):
            yield from self._static_chunks(records)
            return
        current: list[SinkRecord] = []
        current_url = ""
        for record in records:
            if record.value is None:
                if current:
                    yield s.method, current_url, current
                    current = []
                if s.on_null == "delete":
                    yield "DELETE", self._url(record), [record]
                elif s.on_null == "fail":
                    self._reject(record, DataException(
                        f"Record {record.original_topic}-{record.original_kafka_partition}@"
                        f"{record.original_kafka_offset} has a null value and behavior.on.null.values=fail"))
                continue
            url = self._url(record)
            if current and (url != current_url or len(current) >= s.batch_max_size):
                yield s.method, current_url, current
                current = []
            current_url = url
            current.append(record)
        if current:
            yield s.method, current_url, current

    def _static_chunks(self, records: Sequence[SinkRecord]) -> Iterator[tuple[str, str, list[SinkRecord]]]:
        """One URL for every record: runs of non-null records cut into slices of ``batch.max.size``."""
        s = self.s
        assert s is not None
        size, run_start = s.batch_max_size, 0
        for index, record in enumerate(records):
            if record.value is not None:
                continue
            for start in range(run_start, index, size):
                yield s.method, s.url, list(records[start:min(start + size, index)])
            run_start = index + 1
            if s.on_null == "delete":
                yield "DELETE", s.url, [record]
            elif s.on_null == "fail":
                self._reject(record, DataException(
                    f"Record {record.original_topic}-{record.original_kafka_partition}@"
                    f"{record.original_kafka_offset} has a null value and behavior.on.null.values=fail"))
        for start in range(run_start, len(records), size):
            yield s.method, s.url, list(records[start:start + size])

    def _body(self, records: list[SinkRecord]) -> tuple[bytes, list[tuple[SinkRecord, BaseException]]]:
        s = self.s
        assert s is not None
        if not s.json_body:
            try:  # the common case, values already bytes (ByteArrayConverter): one C-level join
                joined = (b"," if s.json_array else s.batch_separator).join([r.value for r in records])
            except TypeError:
                pass
            else:
                return (b"[" + joined + b"]" if s.json_array else s.batch_prefix + joined + s.batch_suffix), []
        parts: list[bytes] = []
        bad: list[tuple[SinkRecord, BaseException]] = []
        for record in records:
            try:
                parts.append(self._encode(record.value))
            except DataException as e:
                bad.append((record, e))
        if s.json_array:
            return b"[" + b",".join(parts) + b"]", bad
        return s.batch_prefix + s.batch_separator.join(parts) + s.batch_suffix, bad

    # --- sending ------------------------------------------------------------------------
    def put(self, records: Sequence[SinkRecord]) -> None:
        if self.s is None:
            raise ConnectException("HttpSinkTask.put called before start")
        for method, url, chunk in self._chunks(records):
            body: bytes | None = None
            if method != "DELETE":
                body, bad = self._body(chunk)
                for record, error in bad:
                    self._reject(record, error)
                if bad:
                    failed = {id(r) for r, _ in bad}
                    chunk = [r for r in chunk if id(r) not in failed]
                    if not chunk:
                        continue
                    body, _ = self._body(chunk)
            status, text = self._send(method, url, body)
            if 200 <= status < 300:
                if self.reporter is not None:
                    for record in chunk:
                        self.reporter.success(record, status, text.encode())
                continue
            error = HttpResponseError(method, url, status, text)
            for record in chunk:
                if self.reporter is not None:
                    self.reporter.error(record, status, text.encode(), str(error))
                self._reject(record, error)

    def _reject(self, record: SinkRecord, error: BaseException) -> None:
        """The shared error path: the runtime's errant record reporter (tolerance, DLQ)."""
        reject(self, record, error, "HTTP sink")

    def _send(self, method: str, url: str, body: bytes | None) -> tuple[int, str]:
        """Send one request with retries; returns the final (non-retryable) status and body text."""
        s, client = self.s, _client(self.s)  # type: ignore[arg-type]
        assert s is not None and self.credentials is not None
        attempt, refreshed = 0, False
        while True:
            headers = dict(self._headers)
            params: dict[str, str] = {}
            self.credentials.apply(client, headers, params)
            target = url if not params else url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
            retry_after: float | None = None
            self.requests += 1
            try:
                response = client.request(method, target, body, headers)
            except CertificateRefused as e:
                raise ConnectException(f"HTTP {method} {url}: the server's TLS certificate was not accepted "
                                       f"(https.ssl.truststore.location, https.host.verifier.enabled): {e}") from e
            except TransportError as e:
                problem = str(e)
            else:
                status = response.status
                if status == 401 and s.auth_type == "OAUTH2" and not refreshed and self.credentials.invalidate():
                    refreshed = True  # the token was revoked or expired early: one retry with a new one
                    continue
                if status not in s.retry_codes:
                    return status, response.text
                problem = f"status {status}: {response.text[:200]}"
                retry_after = _retry_after(response.header("Retry-After"))
            if attempt >= s.max_retries:
                raise RetriableException(f"HTTP {method} {url} failed after {attempt + 1} attempt(s), last with "
                                         f"{problem}; the batch is not committed and will be delivered again")
            wait = retry_after if retry_after is not None else self._backoff(attempt)
            log.warning("HTTP %s %s: %s; retry %d of %d in %.2fs", method, url, problem, attempt + 1,
                        s.max_retries, min(wait, s.backoff_max_s))
            self.sleep(min(wait, s.backoff_max_s))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        s = self.s
        assert s is not None
        if not s.backoff_exponential:
            return s.backoff_s
        ceiling = min(s.backoff_s * (2 ** attempt), s.backoff_max_s)
        return s.backoff_s / 2 + random.random() * max(ceiling - s.backoff_s / 2, 0.0)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self.reporter is not None:
            self.reporter.flush()

    def stop(self) -> None:
        if self.reporter is not None:
            self.reporter.flush(5.0)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        from email.utils import parsedate_to_datetime

        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class HttpSinkConnector(SinkConnector):
    """Confluent's ``io.confluent.connect.http.HttpSinkConnector``: records as HTTP requests to a web API."""

    name = "io.confluent.connect.http.HttpSinkConnector"
    version = "1.7.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return HttpSinkTask

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        try:
            HttpSettings.parse(props)
        except ConfigException as e:
            errors = e.errors or {URL: [str(e)]}
            return {k: ConfigValue(k, effective_props(props).get(k), errors=list(v)) for k, v in errors.items()}
        return {}
