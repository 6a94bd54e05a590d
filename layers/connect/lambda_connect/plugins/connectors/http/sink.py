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

``behavior.on.error`` (Confluent's key) decides what a record whose request failed for good
does: ``fail`` (default) is the above. ``ignore`` and ``log`` keep the batch going: a refused
request, a request whose retries ran out, a null value with ``behavior.on.null.values=fail`` or a
value that cannot be sent — the record still goes to the errant record reporter when the runtime
has one and ``errors.tolerance=all`` (so a DLQ keeps it); otherwise it is skipped with a WARN line
naming its coordinates (``log`` adds the error message) and counted in ``records_dropped``, which
the runtime publishes as RecordsDropped. Never silently: a skipped record is always logged.

``sensitive.headers`` (and every other configured secret) never shows: error messages, log lines,
the reporter's error records and so the DLQ headers and task traces pass through
``HttpSettings.mask``. ``regex.patterns`` rewrite each value's text before it joins a request.

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

from .._messaging import json_bytes, record_label, reject
from .auth import Credentials
from .config import CONFIG_DEF, HIDDEN, URL, HttpSettings, effective_props
from .reporter import ResponseReporter
from .transport import CertificateRefused, Transport, TransportError

__all__ = ["HttpResponseError", "HttpSinkConnector", "HttpSinkTask"]

log = logging.getLogger(__name__)

_BODY_SHOWN = 2000  # characters of a response body kept in an error message
_clients: dict[tuple[Any, ...], Transport] = {}
_clients_lock = threading.Lock()


class HttpResponseError(ConnectException):
    """The server answered a request with a status that is neither success nor worth retrying.

    ``url`` and ``body`` arrive masked (``HttpSettings.mask``): a server that echoes request
    headers back must not put a secret into the DLQ's headers."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status, self.body = status, body
        super().__init__(f"HTTP {method} {url} answered {status}: {body[:_BODY_SHOWN]}")


class RetriesExhaustedError(RetriableException):
    """A request kept failing with retryable answers until ``max.retries`` or the invocation's time ran out."""


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
        #: Records skipped under behavior.on.error=ignore|log; the runtime reads the growth per
        #: batch into RecordsDropped, so a skipped record shows in the metrics, not as written.
        self.records_dropped = 0

    def version(self) -> str:
        return HttpSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self.s = HttpSettings.parse(props)
        self.credentials = Credentials(self.s)
        self.reporter = ResponseReporter(self.s, self._time_left) if self.s.reporter_servers else None
        # Where a record that failed for good may still go under behavior.on.error=ignore|log: the
        # errant record reporter only skips it (DLQ) with errors.tolerance=all; with none it would
        # fail the batch, which is what ignore/log are there to avoid.
        self._tolerant = str(props.get("errors.tolerance", "none")).strip().lower() == "all"
        self._sensitive = {name.lower() for name, _ in self.s.sensitive_headers}
        self._url_has_key = "${key}" in self.s.url
        self._url_has_topic = "${topic}" in self.s.url
        self._encode = json_bytes if self.s.json_body else self._text
        content_type = "application/json" if self.s.json_body or self.s.json_array else "text/plain"
        self._headers = {"Content-Type": content_type, **dict(self.s.headers), **dict(self.s.sensitive_headers)}

    def _time_left(self) -> float:
        """Seconds this batch may still wait (the runtime's deadline; unbounded outside it)."""
        context = self.context
        return context.time_left_s() if context is not None else float("inf")

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

    def _rewrite(self, record: SinkRecord, part: bytes) -> bytes:
        """``regex.patterns`` applied in order to one value's text (as Java's ``replaceAll`` does)."""
        try:
            text = part.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataException(f"regex.patterns work on text, and the value of record {record_label(record)} "
                                f"is not UTF-8: {e}") from e
        for pattern, replacement in self.s.regexes:  # type: ignore[union-attr]
            text = pattern.sub(replacement, text)
        return text.encode()

    def _body(self, records: list[SinkRecord]) -> tuple[bytes, list[tuple[SinkRecord, BaseException]]]:
        s = self.s
        assert s is not None
        if not s.json_body and not s.regexes:
            try:  # the common case, values already bytes (ByteArrayConverter): one C-level join
                joined = (b"," if s.json_array else s.batch_separator).join([r.value for r in records])
            except TypeError:
                pass
            else:
                return (b"[" + joined + b"]" if s.json_array else s.batch_prefix + joined + s.batch_suffix), []
        parts: list[bytes] = []
        bad: list[tuple[SinkRecord, BaseException]] = []
        rewrite = self._rewrite if s.regexes else None
        for record in records:
            try:
                part = self._encode(record.value)
                parts.append(part if rewrite is None else rewrite(record, part))
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
            try:
                status, text = self._send(method, url, body)
            except RetriesExhaustedError as e:
                if self.s.on_error == "fail":
                    raise
                for record in chunk:  # ignore/log: the request failed for good, the batch goes on
                    if self.reporter is not None:
                        self.reporter.error(record, None, None, str(e))
                    self._reject(record, e)
                continue
            if 200 <= status < 300:
                if self.reporter is not None:
                    for record in chunk:
                        self.reporter.success(record, status, text.encode())
                continue
            shown = self.s.mask(text)
            error = HttpResponseError(method, self.s.mask(url), status, shown)
            for record in chunk:
                if self.reporter is not None:
                    self.reporter.error(record, status, shown.encode(), str(error))
                self._reject(record, error)

    def _reject(self, record: SinkRecord, error: BaseException) -> None:
        """A record that failed for good, as ``behavior.on.error`` says (see the module docstring)."""
        s = self.s
        assert s is not None
        if s.on_error == "fail":
            reject(self, record, error, "HTTP sink")
            return
        label = record_label(record)
        if self._tolerant and self.context is not None and self.context.errant_record_reporter is not None:
            if s.on_error == "log":
                log.warning("HTTP sink: record %s failed (behavior.on.error=log), handed to the error path: %s",
                            label, s.mask(str(error)))
            reject(self, record, error, "HTTP sink")  # errors.tolerance=all: skipped by the runtime, DLQ if set
            return
        self.records_dropped += 1
        if s.on_error == "log":
            log.warning("HTTP sink: record %s skipped (behavior.on.error=log), kept nowhere: %s", label,
                        s.mask(str(error)))
        else:
            status = getattr(error, "status", None)
            log.warning("HTTP sink: record %s skipped (behavior.on.error=ignore), kept nowhere: %s", label,
                        f"HTTP status {status}" if status is not None else type(error).__name__)

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
            if log.isEnabledFor(logging.DEBUG):
                log.debug("HTTP %s %s (%d bytes), headers %s", method, s.mask(url), len(body or b""),
                          self._shown_headers(headers))
            try:
                response = client.request(method, target, body, headers)
            except CertificateRefused as e:
                raise ConnectException(f"HTTP {method} {s.mask(url)}: the server's TLS certificate was not accepted "
                                       f"(https.ssl.truststore.location, https.host.verifier.enabled): {e}") from e
            except TransportError as e:
                problem = s.mask(str(e))
            else:
                status = response.status
                if status == 401 and s.auth_type == "OAUTH2" and not refreshed and self.credentials.invalidate():
                    refreshed = True  # the token was revoked or expired early: one retry with a new one
                    continue
                if status not in s.retry_codes:
                    return status, response.text
                problem = f"status {status}: {s.mask(response.text[:200])}"
                retry_after = _retry_after(response.header("Retry-After"))
            shown_url = s.mask(url)
            outcome = ("the batch is not committed and will be delivered again" if s.on_error == "fail"
                       else f"behavior.on.error={s.on_error} lets the batch go on without these records")
            if attempt >= s.max_retries:
                raise RetriesExhaustedError(f"HTTP {method} {shown_url} failed after {attempt + 1} attempt(s), last "
                                            f"with {problem}; {outcome}")
            wait = min(retry_after if retry_after is not None else self._backoff(attempt), s.backoff_max_s)
            left = self._time_left()
            if wait >= left:
                raise RetriesExhaustedError(f"HTTP {method} {shown_url} failed after {attempt + 1} attempt(s), last "
                                            f"with {problem}; the invocation has {left:.1f}s left, less than the "
                                            f"{wait:.2f}s wait before the next retry; {outcome}")
            log.warning("HTTP %s %s: %s; retry %d of %d in %.2fs", method, shown_url, problem, attempt + 1,
                        s.max_retries, wait)
            self.sleep(wait)
            attempt += 1

    def _shown_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Request headers as a log line may show them: secret ones (and credentials) hidden."""
        hidden = self._sensitive | {"authorization", "proxy-authorization"}
        if self.s is not None and self.s.auth_type == "API_KEY":
            hidden.add(self.s.api_key_name.lower())
        return {k: (HIDDEN if k.lower() in hidden else self.s.mask(v) if self.s else v) for k, v in headers.items()}

    def _backoff(self, attempt: int) -> float:
        s = self.s
        assert s is not None
        if not s.backoff_exponential:
            return s.backoff_s
        ceiling = min(s.backoff_s * (2 ** attempt), s.backoff_max_s)
        return s.backoff_s / 2 + random.random() * max(ceiling - s.backoff_s / 2, 0.0)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self.reporter is not None:
            self.reporter.flush()  # bounded by the invocation's time; raises rather than commit without reports

    def stop(self) -> None:
        if self.reporter is not None:
            self.reporter.close(5.0)


def _secret(key: str) -> bool:
    """A PASSWORD key, whose value a validation answer must not echo."""
    from lambda_connect.api.config import ConfigType

    found = CONFIG_DEF.keys.get(key)
    return found is not None and found.type is ConfigType.PASSWORD


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
            shown = effective_props(props)
            return {k: ConfigValue(k, HIDDEN if _secret(k) and shown.get(k) else shown.get(k), errors=list(v))
                    for k, v in errors.items()}
        return {}
