"""``connection.url`` → a SQLAlchemy engine, shared by the JDBC source and sink.

Users copy connector configs from a Kafka Connect cluster, so ``connection.url`` is usually
a JDBC URL. We translate the ones we have drivers for and accept SQLAlchemy URLs as well:

    jdbc:postgresql://host[:port]/db?user=u&password=p&sslmode=require
    jdbc:postgresql:db                              (localhost, as the PostgreSQL driver does)
    jdbc:mysql://host[:port]/db   jdbc:mariadb://host[:port]/db
    jdbc:sqlite:/abs/path.db   jdbc:sqlite:relative.db   jdbc:sqlite::memory:
    postgresql://…  mysql://…  mariadb://…  sqlite:///…  (plus explicit drivers, e.g. postgresql+psycopg://)

Bare ``postgresql``/``mysql``/``mariadb`` schemes get the drivers we ship (psycopg 3, PyMySQL)
instead of SQLAlchemy's defaults (psycopg2, mysqlclient), which are not installed.

JDBC query parameters that have a libpq/PyMySQL equivalent are translated; the rest are
Java-driver tuning knobs with no meaning here and are dropped with a warning (passing them
through would make the driver refuse to connect). ``connection.user``/``connection.password``
win over credentials embedded in the URL, because they are the explicit connector keys.
SQLite has no credentials: for a SQLite URL they are ignored, with one warning per URL, as
Kafka Connect's JDBC connectors ignore them (SQLAlchemy would refuse the URL otherwise).

Engines are cached per (URL, user, password), so a warm Lambda container keeps its
connection pool across invocations. A password rotation makes a new engine for the same
URL and user; the one it supersedes is disposed (its pooled sessions closed) as soon as no
task holds it any more — at once for engines nobody holds, else when the last holder
releases it (``acquire_engine`` / ``release_engine``) — so rotations never pile up sessions.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from lambda_connect.api import ConfigException

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = [
    "acquire_engine",
    "backend_name",
    "dispose_engines",
    "engine_for",
    "redact",
    "release_engine",
    "to_sqlalchemy_url",
]

log = logging.getLogger(__name__)

_MISSING_EXTRA = "The JDBC connectors need SQLAlchemy and a driver: pip install 'lambda-connect[jdbc]'"

_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
                    "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}

# JDBC parameter → (libpq or PyMySQL query key, value mapper)
_PG_PARAMS: dict[str, tuple[str, Any]] = {
    "sslmode": ("sslmode", str),
    "ssl": ("sslmode", lambda v: "require" if v.lower() == "true" else "disable"),
    "sslrootcert": ("sslrootcert", str),
    "sslcert": ("sslcert", str),
    "sslkey": ("sslkey", str),
    "applicationname": ("application_name", str),
    "connecttimeout": ("connect_timeout", str),
    "currentschema": ("options", lambda v: f"-csearch_path={v}"),
    "options": ("options", str),
    "targetservertype": ("target_session_attrs", lambda v: {"primary": "read-write", "master": "read-write",
                                                            "secondary": "read-only"}.get(v.lower(), "any")),
}
_MYSQL_CHARSETS = {"utf-8": "utf8mb4", "utf8": "utf8mb4", "utf8mb4": "utf8mb4", "latin1": "latin1"}
_MYSQL_PARAMS: dict[str, tuple[str, Any]] = {
    "characterencoding": ("charset", lambda v: _MYSQL_CHARSETS.get(v.lower(), v)),
    "connecttimeout": ("connect_timeout", lambda v: str(max(1, int(v) // 1000))),
}


def to_sqlalchemy_url(connection_url: str, user: str | None = None, password: str | None = None) -> URL:
    """The SQLAlchemy URL for a JDBC or SQLAlchemy ``connection.url``, with credentials applied.

    Raises ``ConfigException`` (attributed to ``connection.url``) for a malformed URL or a
    database we have no driver for.
    """
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConfigException(_MISSING_EXTRA) from e
    raw = (connection_url or "").strip()
    if not raw:
        raise ConfigException.for_key("connection.url", raw, "A connection URL is required")
    text = _from_jdbc(raw) if raw.lower().startswith("jdbc:") else raw
    try:
        url = make_url(text)
    except ArgumentError as e:
        raise ConfigException.for_key("connection.url", redact(raw), f"Not a JDBC or SQLAlchemy URL ({e})") from None
    if url.drivername in _DEFAULT_DRIVERS:
        url = url.set(drivername=_DEFAULT_DRIVERS[url.drivername])
    if url.get_backend_name() == "sqlite":
        return _without_credentials(url, raw, bool(user or url.username), bool(password or url.password))
    if user:
        url = url.set(username=user)
    if password:
        url = url.set(password=password)
    return url


_warned_sqlite: set[str] = set()


def _without_credentials(url: URL, raw: str, user: bool, password: bool) -> URL:
    """A SQLite URL stripped of user and password (the file has none), warning once per URL."""
    if user or password:
        key = redact(raw)
        if key not in _warned_sqlite:
            _warned_sqlite.add(key)
            given = " and ".join(n for n, g in (("a user", user), ("a password", password)) if g)
            log.warning("connection.url %s is a SQLite database, which has no credentials: ignoring %s", key, given)
    return url._replace(username=None, password=None)  # URL.set() cannot clear a field


def backend_name(url: URL) -> str:
    """``postgresql``, ``mysql`` (also for MariaDB) or ``sqlite``: what the dialects key on."""
    backend = url.get_backend_name()
    return "mysql" if backend == "mariadb" else backend


def redact(connection_url: str) -> str:
    """The URL with any password hidden, for error messages and logs."""
    if "password=" in connection_url:
        import re

        connection_url = re.sub(r"(password=)[^&;]*", r"\1****", connection_url, flags=re.IGNORECASE)
    if "://" in connection_url and "@" in connection_url.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = connection_url.split("://", 1)
        creds, host = rest.split("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":****"
        connection_url = f"{scheme}://{creds}@{host}"
    return connection_url


# --- JDBC → SQLAlchemy ---------------------------------------------------------------------


def _from_jdbc(raw: str) -> str:
    body = raw[5:]
    sub, _, rest = body.partition(":")
    sub = sub.lower()
    if sub == "sqlite":
        return _sqlite(rest)
    if sub in ("postgresql", "postgres"):
        return _server("postgresql+psycopg", rest, _PG_PARAMS, raw)
    if sub in ("mysql", "mariadb"):
        driver = "mysql+pymysql" if sub == "mysql" else "mariadb+pymysql"
        return _server(driver, rest, _MYSQL_PARAMS, raw)
    raise ConfigException.for_key(
        "connection.url", redact(raw),
        f"No driver for JDBC subprotocol '{sub}'; supported: postgresql, mysql, mariadb, sqlite, or a SQLAlchemy URL",
    )


def _sqlite(rest: str) -> str:
    path = rest.split("?", 1)[0]
    if path in ("", ":memory:"):
        return "sqlite://"
    if path.startswith("file:"):
        path = path[5:]
    return "sqlite:///" + path  # an absolute path keeps its leading slash: sqlite:////abs


def _server(driver: str, rest: str, params: dict[str, tuple[str, Any]], raw: str) -> str:
    from urllib.parse import quote, urlencode

    if not rest.startswith("//"):
        # jdbc:postgresql:database  — the driver's short form for localhost
        rest = "//localhost/" + rest
    authority_path, _, query = rest[2:].partition("?")
    authority, _, database = authority_path.partition("/")
    # MySQL Connector/J also accepts ';'-separated properties after the path.
    if ";" in database:
        database, _, extra = database.partition(";")
        query = "&".join(filter(None, [query, extra.replace(";", "&")]))
    user = password = None
    if "@" in authority:
        creds, authority = authority.rsplit("@", 1)
        user, _, password = creds.partition(":")
    out: list[tuple[str, str]] = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        lk = key.lower()
        if lk == "user":
            user = value
        elif lk == "password":
            password = value
        elif lk in params:
            target, mapper = params[lk]
            out.append((target, mapper(value)))
        else:
            log.warning("Ignoring JDBC URL parameter %r: it has no equivalent in the Python driver", key)
    hosts = [h for h in authority.split(",") if h]
    if not hosts:
        raise ConfigException.for_key("connection.url", redact(raw), "The URL names no host")
    netloc = ""
    if user:
        netloc = quote(unquote(user), safe="")
        if password:
            netloc += ":" + quote(unquote(password), safe="")
        netloc += "@"
    if len(hosts) == 1:
        netloc += hosts[0]
    else:  # libpq multi-host, spelled as SQLAlchemy documents it for psycopg
        out.extend(("host", h) for h in hosts)
    qs = ("?" + urlencode(out)) if out else ""
    return f"{driver}://{netloc}/{database}{qs}"


# --- engines -------------------------------------------------------------------------------

_Key = tuple[str, str | None, str | None]


class _Cached:
    """One cached engine and how many tasks hold it."""

    __slots__ = ("engine", "holders")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.holders = 0


_engines: dict[_Key, _Cached] = {}
#: (URL, user) → the password of the newest engine: older passwords are superseded.
_current: dict[tuple[str, str | None], str | None] = {}
_engines_lock = threading.Lock()


def engine_for(connection_url: str, user: str | None = None, password: str | None = None) -> Engine:
    """A pooled engine for the URL, created once per process (warm invocations reuse it).

    Creating the engine for a new password of a known URL and user disposes the engines of
    the older passwords that no task holds."""
    cached = _engines.get((connection_url, user, password))
    if cached is not None:
        return cached.engine
    return _lookup(connection_url, user, password, hold=False)


def acquire_engine(connection_url: str, user: str | None = None, password: str | None = None) -> Engine:
    """``engine_for``, counted as held until ``release_engine``: a held engine is never disposed."""
    return _lookup(connection_url, user, password, hold=True)


def release_engine(engine: Engine) -> None:
    """A task no longer uses ``engine``; disposed now if a newer password superseded it."""
    superseded: list[Engine] = []
    with _engines_lock:
        for key, cached in _engines.items():
            if cached.engine is engine:
                cached.holders = max(cached.holders - 1, 0)
                if cached.holders == 0 and _current.get(key[:2], key[2]) != key[2]:
                    superseded.append(_engines.pop(key).engine)
                break
    _dispose(superseded)


def _lookup(connection_url: str, user: str | None, password: str | None, *, hold: bool) -> Engine:
    key = (connection_url, user, password)
    superseded: list[Engine] = []
    with _engines_lock:
        cached = _engines.get(key)
        if cached is None:
            cached = _engines[key] = _Cached(_create(to_sqlalchemy_url(connection_url, user, password)))
            login = (connection_url, user)
            if login in _current and _current[login] != password:
                for other in [k for k in _engines if k[:2] == login and k != key]:
                    if _engines[other].holders == 0:
                        superseded.append(_engines.pop(other).engine)
            _current[login] = password
        if hold:
            cached.holders += 1
        engine = cached.engine
    _dispose(superseded)
    return engine


def _dispose(engines: list[Engine]) -> None:
    for engine in engines:
        log.info("Closing the connection pool of %s: its password was superseded", engine.url)
        engine.dispose()


def dispose_engines() -> None:
    """Close every cached pool (tests, and processes that outlive their connectors)."""
    with _engines_lock:
        engines = [cached.engine for cached in _engines.values()]
        _engines.clear()
        _current.clear()
    for engine in engines:
        engine.dispose()


def _create(url: URL) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import StaticPool

    if backend_name(url) == "sqlite":
        memory = url.database in (None, "", ":memory:")
        engine = create_engine(
            url,
            poolclass=StaticPool if memory else None,
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        # pysqlite opens transactions implicitly and breaks SAVEPOINT; we take control so
        # that BEGIN/SAVEPOINT/COMMIT mean what they say (SQLAlchemy's documented recipe).
        @event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _explicit_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=2, pool_recycle=1800)
