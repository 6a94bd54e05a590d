"""The HTTP sink's configuration: Confluent's keys and defaults, plus Aiven's names for the same things.

``effective_props`` folds Aiven's keys (``http.url``, ``http.authorization.type``,
``http.headers.*``, ``http.timeout``, ``batching.enabled``, ``oauth2.access.token.url`` …) into
Confluent's, so a config written for either connector runs; a Confluent key set explicitly wins.
``HttpSettings.parse`` turns the result into the typed values the task works with.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    LambdaValidator,
    Range,
)
from lambda_connect.api.errors import ConfigException

__all__ = ["CONFIG_DEF", "HIDDEN", "HttpSettings", "StatusCodes", "effective_props"]

_CONN, _AUTH, _BATCH, _RETRY, _TLS, _REPORT, _AIVEN, _REGEX = (
    "Connection", "Authentication", "Batching", "Retries", "TLS", "Reporter", "Aiven compatibility", "Regex")

URL = "http.api.url"
HIDDEN = "[hidden]"  # what a secret is shown as
AUTH_TYPES = ("NONE", "BASIC", "OAUTH2", "API_KEY", "BEARER")
DEFAULT_RETRY_CODES = "429,500-"


class StatusCodes:
    """A set of HTTP status codes written as ``429,500-`` / ``500-503``."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.ranges = ranges

    @classmethod
    def parse(cls, name: str, text: str) -> StatusCodes:
        ranges: list[tuple[int, int]] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            m = re.fullmatch(r"(\d{3})(?:\s*(-)\s*(\d{3})?)?", part)
            if m is None:
                raise ConfigException.for_key(name, text, f"'{part}' is neither a status code nor a range like 500-")
            low = int(m.group(1))
            high = int(m.group(3)) if m.group(3) else (999 if m.group(2) else low)
            if high < low:
                raise ConfigException.for_key(name, text, f"range '{part}' ends before it starts")
            ranges.append((low, high))
        return cls(ranges)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and any(low <= code <= high for low, high in self.ranges)


def _check_codes(name: str, value: Any) -> None:
    StatusCodes.parse(name, str(value or ""))


def _key(name: str, type_: ConfigType, default: Any, doc: str, group: str, order: int, *,
         importance: Importance = Importance.MEDIUM, validator: Any = None) -> ConfigKey:
    return ConfigKey(name=name, type=type_, default=default, doc=doc, group=group, order_in_group=order,
                     importance=importance, validator=validator)


S, N, B, P = ConfigType.STRING, ConfigType.INT, ConfigType.BOOLEAN, ConfigType.PASSWORD

CONFIG_DEF = ConfigDef(
    _key(URL, S, None, "Where requests go. `${topic}` and `${key}` are replaced by the record's topic and "
         "(URL-encoded) key; a URL with `${key}` gets one request per key. Required unless Aiven's `http.url` "
         "is given.", _CONN, 1, importance=Importance.HIGH),
    _key("request.method", S, "POST", "HTTP method of the requests that carry records.", _CONN, 2,
         importance=Importance.HIGH, validator=CaseInsensitiveValidString("POST", "PUT", "PATCH", "DELETE")),
    _key("headers", S, "", "Extra request headers as `Name:value` pairs split by `header.separator`.", _CONN, 3),
    _key("header.separator", S, "|", "What separates the pairs in `headers` and `sensitive.headers`.", _CONN, 4),
    _key("sensitive.headers", P, None, "Request headers holding secrets, `Name:value` pairs like `headers`: sent "
         "with every request, their values replaced by `[hidden]` in logs, error messages, task traces and the "
         "dead letter queue's headers.", _CONN, 11),
    _key("http.connect.timeout.ms", N, 30000, "How long to wait for a connection to the server.", _CONN, 5,
         validator=Range.at_least(1)),
    _key("http.request.timeout.ms", N, 30000, "How long to wait for the server's answer once a request is "
         "sent; a server that takes longer counts as a retryable failure.", _CONN, 6, validator=Range.at_least(1)),
    _key("http.proxy.host", S, "", "Proxy host; empty means no proxy.", _CONN, 7),
    _key("http.proxy.port", N, 0, "Proxy port.", _CONN, 8, validator=Range.between(0, 65535)),
    _key("http.proxy.user", S, "", "User name for the proxy.", _CONN, 9),
    _key("http.proxy.password", P, None, "Password for the proxy.", _CONN, 10),
    _key("auth.type", S, "NONE", "How requests authenticate: NONE, BASIC (`connection.user`/`connection.password`), "
         "OAUTH2 (client credentials, token cached and refreshed), API_KEY (`api.key.*`) or BEARER "
         "(`bearer.token`).", _AUTH, 1, importance=Importance.HIGH,
         validator=CaseInsensitiveValidString(*AUTH_TYPES)),
    _key("connection.user", S, None, "User name for BASIC authentication.", _AUTH, 2),
    _key("connection.password", P, None, "Password for BASIC authentication.", _AUTH, 3),
    _key("oauth2.token.url", S, None, "Token endpoint for OAUTH2 (client credentials grant).", _AUTH, 4),
    _key("oauth2.client.id", S, None, "OAUTH2 client id.", _AUTH, 5),
    _key("oauth2.client.secret", P, None, "OAUTH2 client secret.", _AUTH, 6),
    _key("oauth2.client.auth.mode", S, "header", "How the client proves itself to the token endpoint: `header` "
         "(HTTP Basic) or `url` (id and secret in the form body).", _AUTH, 7,
         validator=CaseInsensitiveValidString("header", "url")),
    _key("oauth2.client.scope", S, "any", "Scope asked for with the token; empty sends none.", _AUTH, 8),
    _key("oauth2.token.property", S, "access_token", "Field of the token response that holds the token.", _AUTH, 9),
    _key("oauth2.client.headers", S, "", "Extra headers for token requests, `Name:value` split by "
         "`header.separator`.", _AUTH, 10),
    _key("api.key.location", S, "HEADER", "Where the API key goes: a request HEADER or a QUERY parameter.", _AUTH,
         11, validator=CaseInsensitiveValidString("HEADER", "QUERY")),
    _key("api.key.identifier", S, "X-API-KEY", "Header or query parameter name that carries the API key.", _AUTH, 12),
    _key("api.key.value", P, None, "The API key.", _AUTH, 13),
    _key("bearer.token", P, None, "Token sent as `Authorization: Bearer …` with auth.type BEARER.", _AUTH, 14),
    _key("batch.max.size", N, 1, "Most records one request carries. Records are batched per target URL, in the "
         "order they were consumed.", _BATCH, 1, importance=Importance.HIGH, validator=Range.at_least(1)),
    _key("batch.prefix", S, "", "Text put before the records of a request.", _BATCH, 2),
    _key("batch.suffix", S, "", "Text put after the records of a request.", _BATCH, 3),
    _key("batch.separator", S, ",", "Text put between two records of a request.", _BATCH, 4),
    _key("batch.json.as.array", B, False, "Send a request's records as one JSON array (prefix, suffix and "
         "separator are then not used).", _BATCH, 5),
    _key("request.body.format", S, "string", "`string`: a record's value as text (strings and bytes as they "
         "are, anything else as JSON); `json`: every value as JSON.", _BATCH, 6,
         validator=CaseInsensitiveValidString("string", "json")),
    _key("behavior.on.null.values", S, "ignore", "What a record with a null value does: `ignore` skips it, "
         "`delete` sends a DELETE to its URL, `fail` reports it as an error.", _BATCH, 7,
         validator=CaseInsensitiveValidString("ignore", "delete", "fail")),
    _key("behavior.on.error", S, "fail", "What a record whose request failed for good does (a refused answer, "
         "retries run out, a value that cannot be sent): `fail` hands it to the error path "
         "(errors.tolerance, dead letter queue) and a request whose retries ran out fails the batch; `log` "
         "and `ignore` let the batch go on — the record goes to the error path only where that tolerates "
         "it, otherwise it is skipped with a WARN line naming it (`log` adds the error) and counted in "
         "RecordsDropped.", _RETRY, 6, validator=CaseInsensitiveValidString("ignore", "log", "fail")),
    _key("max.retries", N, 10, "Retries of a request that failed with a retryable status or a network error; "
         "when they run out the batch is not committed and is delivered again.", _RETRY, 1,
         validator=Range.at_least(0)),
    _key("retry.backoff.ms", N, 3000, "Wait before the first retry; with EXPONENTIAL_WITH_JITTER it doubles "
         "with every retry (a random share of it, never more than `retry.backoff.max.ms`). A `Retry-After` "
         "answer from the server sets the wait instead.", _RETRY, 2, validator=Range.at_least(0)),
    _key("retry.backoff.policy", S, "EXPONENTIAL_WITH_JITTER", "CONSTANT_VALUE or EXPONENTIAL_WITH_JITTER.",
         _RETRY, 3, validator=CaseInsensitiveValidString("CONSTANT_VALUE", "EXPONENTIAL_WITH_JITTER")),
    _key("retry.backoff.max.ms", N, 30000, "Longest single wait between retries, `Retry-After` included, so "
         "that retries stay inside the invocation.", _RETRY, 4, validator=Range.at_least(0)),
    _key("retry.on.status.codes", S, DEFAULT_RETRY_CODES, "Status codes worth retrying: codes and ranges, "
         "comma separated (`500-` is 500 and above, `500-503` inclusive). Any other non-2xx answer goes to the "
         "error path (errors.tolerance, dead letter queue).", _RETRY, 5,
         validator=LambdaValidator(_check_codes, "codes and ranges, e.g. 429,500-")),
    _key("https.ssl.truststore.location", S, "", "PEM file of the CA certificates that sign the server's "
         "certificate; empty uses the system's.", _TLS, 1),
    _key("https.ssl.keystore.location", S, "", "PEM file with the client certificate (and its private key) for "
         "mutual TLS.", _TLS, 2),
    _key("https.ssl.key.location", S, "", "PEM file of the client's private key when it is not in the key store "
         "file.", _TLS, 3),
    _key("https.ssl.key.password", P, None, "Password of the client's private key.", _TLS, 4),
    _key("https.host.verifier.enabled", B, True, "Check that the server certificate names the host.", _TLS, 5),
    _key("https.ssl.verify.enabled", B, True, "Check the server certificate at all (false trusts any).", _TLS, 6),
    _key("reporter.bootstrap.servers", S, "", "Kafka cluster for the response reporter; empty turns it off. "
         "Other `reporter.*` keys are passed to its producer.", _REPORT, 1),
    _key("reporter.result.topic.name", S, "success-responses", "Topic that gets one record per delivered record "
         "(the response body, with its coordinates and status as headers).", _REPORT, 2),
    _key("reporter.error.topic.name", S, "error-responses", "Topic that gets one record per failed record.",
         _REPORT, 3),
    _key("report.errors.as", S, "error_string", "Value of error records: `error_string` (what went wrong) or "
         "`http_response` (the response body).", _REPORT, 4,
         validator=CaseInsensitiveValidString("error_string", "http_response")),
    _key("regex.patterns", S, "", "Regular expressions applied, in order, to each record's value text before it "
         "goes into a request, split by `regex.separator`; every match is replaced by the replacement at the "
         "same position.", _REGEX, 1),
    _key("regex.replacements", S, "", "The replacements for `regex.patterns`, as many, split by `regex.separator`; "
         "`$1` / `${name}` insert a group, `\\$` a dollar sign.", _REGEX, 2),
    _key("regex.separator", S, "~", "What separates the items of `regex.patterns` and `regex.replacements`.",
         _REGEX, 3),
    _key("http.url", S, None, "Aiven's name for `http.api.url`.", _AIVEN, 1),
    _key("http.authorization.type", S, None, "Aiven's auth switch: none, static (`http.headers.authorization`), "
         "oauth2 or apikey.", _AIVEN, 2),
    _key("http.headers.authorization", P, None, "Aiven: the Authorization header value for `static`.", _AIVEN, 3),
    _key("http.headers.content.type", S, None, "Aiven: Content-Type of the requests.", _AIVEN, 4),
    _key("http.headers.additional", S, None, "Aiven: extra headers, comma separated `Name:value` pairs.", _AIVEN, 5),
    _key("http.timeout", N, None, "Aiven: request timeout in seconds.", _AIVEN, 6),
    _key("batching.enabled", B, None, "Aiven: batch records (then batch.max.size defaults to 500 and "
         "batch.separator to a newline).", _AIVEN, 7),
    _key("oauth2.access.token.url", S, None, "Aiven's name for `oauth2.token.url`.", _AIVEN, 8),
    _key("oauth2.client.authorization.mode", S, None, "Aiven: HEADER or URL (`oauth2.client.auth.mode`).", _AIVEN, 9),
    _key("oauth2.response.token.property", S, None, "Aiven's name for `oauth2.token.property`.", _AIVEN, 10),
    _key("http.ssl.trust.all.certs", B, None, "Aiven: trust any server certificate.", _AIVEN, 11),
)


def effective_props(props: Mapping[str, str]) -> dict[str, str]:
    """``props`` with Aiven's keys translated to Confluent's where those are not set."""
    out = dict(props)

    def take(aiven: str, ours: str, convert: Any = str) -> None:
        value = props.get(aiven)
        if value not in (None, "") and ours not in props:
            out[ours] = convert(value)

    take("http.url", URL)
    take("oauth2.access.token.url", "oauth2.token.url")
    take("oauth2.response.token.property", "oauth2.token.property")
    take("oauth2.client.authorization.mode", "oauth2.client.auth.mode", lambda v: str(v).lower())
    take("http.timeout", "http.request.timeout.ms", lambda v: str(int(str(v).strip()) * 1000))
    take("http.ssl.trust.all.certs", "https.ssl.verify.enabled",
         lambda v: "false" if str(v).strip().lower() == "true" else "true")
    kind = str(props.get("http.authorization.type") or "").strip().lower()
    if kind and "auth.type" not in props:
        out["auth.type"] = {"none": "NONE", "static": "NONE", "oauth2": "OAUTH2", "apikey": "API_KEY"}.get(kind, kind)
    sep = out.get("header.separator") or "|"
    extra: list[str] = []
    if kind == "static" and props.get("http.headers.authorization"):  # a secret: masked like sensitive.headers
        static = f"Authorization:{props['http.headers.authorization']}"
        out["sensitive.headers"] = sep.join([h for h in [str(out.get("sensitive.headers") or "")] if h] + [static])
    if props.get("http.headers.content.type"):
        extra.append(f"Content-Type:{props['http.headers.content.type']}")
    if props.get("http.headers.additional"):
        extra.extend(h.strip() for h in str(props["http.headers.additional"]).split(",") if h.strip())
    if extra:
        out["headers"] = sep.join([h for h in [str(out.get("headers") or "")] if h] + extra)
    if str(props.get("batching.enabled") or "").strip().lower() == "true":
        out.setdefault("batch.max.size", "500")
        out.setdefault("batch.separator", "\n")
    return out


def _pairs(name: str, text: str, separator: str, *, secret: bool = False) -> list[tuple[str, str]]:
    """``Name:value`` items; for a ``secret`` key the error shows neither the value nor the item."""
    out: list[tuple[str, str]] = []
    for number, item in enumerate((t.strip() for t in text.split(separator) if t.strip()), 1):
        header, colon, value = item.partition(":")
        if not colon or not header.strip():
            what = f"item {number}" if secret else f"'{item}'"
            raise ConfigException.for_key(name, HIDDEN if secret else text, f"{what} is not a Name:value header")
        out.append((header.strip(), value.strip()))
    return out


_JAVA_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def _java_replacement(pattern: re.Pattern[str], text: str) -> str:
    """A replacement written for Java's ``Matcher.replaceAll`` as a template for ``re.sub``.

    Configs are copied from Confluent's connector, so ``$1``, ``${name}`` and ``\\$`` must mean
    what they mean there; a group the pattern does not have is refused now rather than failing
    every record later."""
    out: list[str] = []
    i, end = 0, len(text)
    while i < end:
        c = text[i]
        if c == "\\":
            if i + 1 == end:
                raise ValueError("a trailing backslash escapes nothing")
            out.append("\\\\" if text[i + 1] == "\\" else text[i + 1])
            i += 2
        elif c == "$":
            i += 1
            if i < end and text[i] == "{":
                close = text.find("}", i)
                if close < 0:
                    raise ValueError("'${' has no closing '}'")
                name = text[i + 1:close]
                if name not in pattern.groupindex:
                    raise ValueError(f"the pattern has no group named '{name}'")
                out.append(f"\\g<{name}>")
                i = close + 1
            elif i < end and text[i].isdigit():
                number = int(text[i])
                i += 1  # like Java: more digits only while they still name an existing group
                while i < end and text[i].isdigit() and number * 10 + int(text[i]) <= pattern.groups:
                    number, i = number * 10 + int(text[i]), i + 1
                if number > pattern.groups:
                    raise ValueError(f"the pattern has no group {number}")
                out.append(f"\\g<{number}>")
            else:
                raise ValueError("'$' must be followed by a group number or {name}; write \\$ for a dollar sign")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _regexes(patterns: str, replacements: str, separator: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """``regex.patterns`` paired with ``regex.replacements``, compiled and checked."""
    if not patterns:
        if replacements:
            raise ConfigException.for_key("regex.replacements", replacements, "given without regex.patterns")
        return ()
    if not separator:
        raise ConfigException.for_key("regex.separator", separator, "must not be empty")
    texts, templates = patterns.split(separator), replacements.split(separator)
    if len(texts) != len(templates):
        raise ConfigException.for_key("regex.replacements", replacements, f"{len(templates)} replacement(s) for "
                                      f"{len(texts)} pattern(s) in regex.patterns (split by '{separator}')")
    out: list[tuple[re.Pattern[str], str]] = []
    for number, (text, template) in enumerate(zip(texts, templates), 1):
        try:
            pattern = re.compile(_JAVA_NAMED_GROUP.sub("(?P<", text))
        except re.error as e:
            raise ConfigException.for_key("regex.patterns", patterns,
                                          f"pattern {number} '{text}' is not a valid regular expression: {e}") from e
        try:
            out.append((pattern, _java_replacement(pattern, template)))
        except ValueError as e:
            raise ConfigException.for_key("regex.replacements", replacements,
                                          f"replacement {number} '{template}' (for pattern '{text}'): {e}") from e
    return tuple(out)


@dataclass(frozen=True)
class HttpSettings:
    """Typed view of one task's config; its repr leaves the secrets out."""

    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    connect_timeout_s: float
    request_timeout_s: float
    proxy: str | None
    auth_type: str
    user: str | None
    password: str | None = field(repr=False)
    oauth_url: str | None
    oauth_client_id: str | None
    oauth_client_secret: str | None = field(repr=False)
    oauth_auth_mode: str
    oauth_scope: str
    oauth_token_property: str
    oauth_headers: tuple[tuple[str, str], ...]
    api_key_location: str
    api_key_name: str
    api_key: str | None = field(repr=False)
    bearer_token: str | None = field(repr=False)
    batch_max_size: int
    batch_prefix: bytes
    batch_suffix: bytes
    batch_separator: bytes
    json_array: bool
    json_body: bool
    on_null: str
    max_retries: int
    backoff_s: float
    backoff_exponential: bool
    backoff_max_s: float
    retry_codes: StatusCodes
    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    key_password: str | None = field(repr=False)
    verify_hostname: bool
    verify: bool
    reporter_servers: str
    reporter_result_topic: str
    reporter_error_topic: str
    report_errors_as_response: bool
    reporter_overrides: tuple[tuple[str, str], ...]
    sensitive_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    on_error: str = "fail"
    regexes: tuple[tuple[re.Pattern[str], str], ...] = ()
    #: Every configured secret (sensitive header values, passwords, keys, tokens, the Basic
    #: header built from them), longest first: what ``mask`` hides in any text the sink shows.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def mask(self, text: str) -> str:
        """``text`` with every configured secret replaced by ``[hidden]``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        return text

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> HttpSettings:
        """Parse and check ``props``; batch texts are taken unstripped (a newline separator is common)."""
        effective = effective_props(props)
        c: Config = CONFIG_DEF.parse(effective)
        url = c[URL]
        if not url:
            raise ConfigException.for_key(URL, None, "a target URL is required (http.api.url, or Aiven's http.url)")
        auth = str(c["auth.type"]).upper()
        needed = {"BASIC": ("connection.user",), "OAUTH2": ("oauth2.token.url", "oauth2.client.id"),
                  "API_KEY": ("api.key.value",), "BEARER": ("bearer.token",)}.get(auth, ())
        missing = [k for k in needed if not c[k] and not (c.password(k) if k in ("api.key.value", "bearer.token")
                                                         else None)]
        if missing:
            raise ConfigException(errors={k: [f"Missing {k}: auth.type={auth} needs it"] for k in missing})
        sep = c["header.separator"] or "|"
        proxy = None
        if c["http.proxy.host"]:
            user = c["http.proxy.user"]
            secret = c.password("http.proxy.password") or ""
            creds = f"{user}:{secret}@" if user else ""
            proxy = f"http://{creds}{c['http.proxy.host']}:{c['http.proxy.port'] or 80}"
        reporter = tuple((k[len("reporter."):], str(v)) for k, v in effective.items()
                         if k.startswith("reporter.") and k not in CONFIG_DEF)
        sensitive = tuple(_pairs("sensitive.headers", c.password("sensitive.headers") or "", sep, secret=True))
        regexes = _regexes(str(effective.get("regex.patterns") or ""), str(effective.get("regex.replacements") or ""),
                           str(effective.get("regex.separator", "~")))
        secrets = {value for _, value in sensitive}
        secrets.update(c.password(k) or "" for k in ("connection.password", "oauth2.client.secret", "api.key.value",
                                                     "bearer.token", "http.proxy.password", "https.ssl.key.password"))
        from .auth import basic_header

        if auth == "BASIC":  # the encoded credentials, which a log of the header would show
            secrets.add(basic_header(c["connection.user"] or "", c.password("connection.password") or "").split()[1])
        if auth == "OAUTH2" and c.password("oauth2.client.secret"):
            secrets.add(basic_header(c["oauth2.client.id"] or "", c.password("oauth2.client.secret") or "").split()[1])
        return cls(
            url=str(url), method=str(c["request.method"]).upper(),
            headers=tuple(_pairs("headers", c["headers"] or "", sep)),
            connect_timeout_s=c["http.connect.timeout.ms"] / 1000.0,
            request_timeout_s=c["http.request.timeout.ms"] / 1000.0, proxy=proxy, auth_type=auth,
            user=c["connection.user"], password=c.password("connection.password"),
            oauth_url=c["oauth2.token.url"], oauth_client_id=c["oauth2.client.id"],
            oauth_client_secret=c.password("oauth2.client.secret"),
            oauth_auth_mode=str(c["oauth2.client.auth.mode"]).lower(), oauth_scope=c["oauth2.client.scope"] or "",
            oauth_token_property=c["oauth2.token.property"] or "access_token",
            oauth_headers=tuple(_pairs("oauth2.client.headers", c["oauth2.client.headers"] or "", sep)),
            api_key_location=str(c["api.key.location"]).upper(), api_key_name=c["api.key.identifier"],
            api_key=c.password("api.key.value"), bearer_token=c.password("bearer.token"),
            batch_max_size=c["batch.max.size"], batch_prefix=str(effective.get("batch.prefix", "")).encode(),
            batch_suffix=str(effective.get("batch.suffix", "")).encode(),
            batch_separator=str(effective.get("batch.separator", ",")).encode(),
            json_array=c["batch.json.as.array"], json_body=str(c["request.body.format"]).lower() == "json",
            on_null=str(c["behavior.on.null.values"]).lower(), max_retries=c["max.retries"],
            backoff_s=c["retry.backoff.ms"] / 1000.0,
            backoff_exponential=str(c["retry.backoff.policy"]).upper() == "EXPONENTIAL_WITH_JITTER",
            backoff_max_s=c["retry.backoff.max.ms"] / 1000.0,
            retry_codes=StatusCodes.parse("retry.on.status.codes", c["retry.on.status.codes"] or ""),
            ca_file=c["https.ssl.truststore.location"] or None, cert_file=c["https.ssl.keystore.location"] or None,
            key_file=c["https.ssl.key.location"] or None, key_password=c.password("https.ssl.key.password"),
            verify_hostname=c["https.host.verifier.enabled"], verify=c["https.ssl.verify.enabled"],
            reporter_servers=c["reporter.bootstrap.servers"] or "",
            reporter_result_topic=c["reporter.result.topic.name"],
            reporter_error_topic=c["reporter.error.topic.name"],
            report_errors_as_response=str(c["report.errors.as"]).lower() == "http_response",
            reporter_overrides=reporter, sensitive_headers=sensitive,
            on_error=str(c["behavior.on.error"]).lower(), regexes=regexes,
            secrets=tuple(sorted((v for v in secrets if v), key=len, reverse=True)),
        )
