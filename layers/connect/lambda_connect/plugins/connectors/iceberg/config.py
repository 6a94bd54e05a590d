"""Configuration of the Iceberg sink, with the key names Apache Iceberg's own Kafka Connect sink uses.

Three kinds of keys:

* fixed keys (``iceberg.tables``, ``iceberg.tables.*``, ``iceberg.control.commit.interval-ms``),
  declared in ``CONFIG_DEF`` so REST validation and the generated docs know them;
* per-table keys ``iceberg.table.<db.table>.<option>`` (``route-regex``, ``partition-by``,
  ``id-columns``), read from the raw props because the table name is part of the key;
* catalog keys ``iceberg.catalog.*``: with the prefix removed they are the catalog's own
  properties (``type``, ``uri``, ``warehouse``, ``s3.*``...), translated from their Java spelling
  where that differs (``catalog-impl``, ``jdbc:`` URIs, ``jdbc.user``/``jdbc.password``).

Keys of Iceberg's control topic (``iceberg.control.topic``, ``iceberg.control.group-id``,
``iceberg.kafka.*``) are accepted and ignored: there is no coordinator here, each invocation
commits (or registers its files) itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api import ConfigDef, ConfigException, ConfigKey, ConfigType, Importance, Width
from lambda_connect.api.config import Range

__all__ = ["CONFIG_DEF", "IcebergSinkConfig", "TableOptions", "catalog_properties"]

_TABLES = "Tables"
_COMMIT = "Commit"
_CATALOG = "Catalog"

TABLE_PREFIX = "iceberg.table."
CATALOG_PREFIX = "iceberg.catalog."

CONFIG_DEF = ConfigDef(
    ConfigKey(name="iceberg.tables", type=ConfigType.LIST, default="", importance=Importance.HIGH, group=_TABLES,
              order_in_group=1, width=Width.LONG, display_name="Tables",
              doc="Comma-separated tables (``namespace.table``) that records go to when routing is static. Without "
                  "``iceberg.tables.route-field`` every record goes to every listed table."),
    ConfigKey(name="iceberg.tables.dynamic-enabled", type=ConfigType.BOOLEAN, default=False,
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=2, width=Width.SHORT,
              display_name="Dynamic routing",
              doc="Take each record's table name from the value of ``iceberg.tables.route-field`` (lower-cased) "
                  "instead of from ``iceberg.tables``."),
    ConfigKey(name="iceberg.tables.route-field", type=ConfigType.STRING, default=None, importance=Importance.MEDIUM,
              group=_TABLES, order_in_group=3, width=Width.MEDIUM, display_name="Route field",
              doc="Field of the record value (dots reach into nested structs) used for routing: the table name "
                  "with dynamic routing, else the text matched against each table's "
                  "``iceberg.table.<table>.route-regex``."),
    ConfigKey(name="iceberg.tables.auto-create-enabled", type=ConfigType.BOOLEAN, default=False,
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=4, width=Width.SHORT,
              display_name="Create missing tables",
              doc="Create a table (and its namespace) that does not exist yet, with a schema derived from the "
                  "first batch of records routed to it."),
    ConfigKey(name="iceberg.tables.evolve-schema-enabled", type=ConfigType.BOOLEAN, default=False,
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=5, width=Width.SHORT,
              display_name="Evolve schemas",
              doc="Add columns for record fields the table lacks and widen column types (int to long, float to "
                  "double, larger decimal precision) before writing. When off, unknown fields are left out."),
    ConfigKey(name="iceberg.tables.schema-force-optional", type=ConfigType.BOOLEAN, default=False,
              importance=Importance.LOW, group=_TABLES, order_in_group=6, width=Width.SHORT,
              display_name="Optional columns only",
              doc="Create and add every column as optional, whatever the record schema says."),
    ConfigKey(name="iceberg.tables.default-partition-by", type=ConfigType.STRING, default="",
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=7, width=Width.LONG,
              display_name="Default partitioning",
              doc="Partition spec for tables this connector creates, as a comma list of ``column`` or transforms "
                  "``year(c)``, ``month(c)``, ``day(c)``, ``hour(c)``, ``bucket(c, n)``, ``truncate(c, w)``; "
                  "``iceberg.table.<table>.partition-by`` overrides it for one table."),
    ConfigKey(name="iceberg.tables.default-id-columns", type=ConfigType.LIST, default="",
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=8, width=Width.LONG,
              display_name="Default id columns",
              doc="Columns that identify a row, used by upsert mode and CDC (``iceberg.table.<table>.id-columns`` "
                  "overrides it). Tables created by the connector declare them as identifier fields."),
    ConfigKey(name="iceberg.tables.upsert-mode-enabled", type=ConfigType.BOOLEAN, default=False,
              importance=Importance.MEDIUM, group=_TABLES, order_in_group=9, width=Width.SHORT,
              display_name="Upsert",
              doc="Replace the row with the same id columns instead of appending; a tombstone (null value) deletes "
                  "the row its key names. Upsert tables get a snapshot per invocation."),
    ConfigKey(name="iceberg.tables.cdc-field", type=ConfigType.STRING, default=None, importance=Importance.MEDIUM,
              group=_TABLES, order_in_group=10, width=Width.MEDIUM, display_name="CDC operation field",
              doc="Field of the record value holding the change type: a value starting with ``D`` deletes the row "
                  "with the record's id columns, ``U`` replaces it, anything else inserts. Needs id columns."),
    ConfigKey(name="iceberg.control.commit.interval-ms", type=ConfigType.LONG, default=300_000,
              validator=Range.at_least(0), importance=Importance.MEDIUM, group=_COMMIT, order_in_group=1,
              width=Width.SHORT, display_name="Commit interval",
              doc="How often a table gets a new snapshot. 0 commits in every invocation. A larger value makes "
                  "invocations write data files and record them as pending in the state table; the first "
                  "invocation after the interval (or the reconciler's rescan once the topic is quiet) commits all "
                  "pending files in one snapshot."),
    ConfigKey(name="iceberg.control.commit.threads", type=ConfigType.INT, default=1, importance=Importance.LOW,
              group=_COMMIT, order_in_group=2, width=Width.SHORT, display_name="Commit threads",
              doc="Accepted for compatibility; each invocation commits its tables one after the other."),
    ConfigKey(name="iceberg.catalog", type=ConfigType.STRING, default="iceberg", importance=Importance.MEDIUM,
              group=_CATALOG, order_in_group=1, width=Width.MEDIUM, display_name="Catalog name",
              doc="Name of the catalog. Its properties are the ``iceberg.catalog.*`` keys with the prefix removed: "
                  "``type`` (``sql``, ``rest``, ``glue``; ``jdbc`` means ``sql``), ``uri``, ``warehouse``, "
                  "``s3.endpoint``, ``s3.region``..."),
)

_CATALOG_IMPLS = {
    "org.apache.iceberg.jdbc.JdbcCatalog": "sql",
    "org.apache.iceberg.rest.RESTCatalog": "rest",
    "org.apache.iceberg.aws.glue.GlueCatalog": "glue",
    "org.apache.iceberg.hive.HiveCatalog": "hive",
}
_CATALOG_TYPES = {"jdbc": "sql", "sql": "sql", "rest": "rest", "glue": "glue", "hive": "hive",
                  "in-memory": "in-memory"}
#: Java-only properties that mean nothing to pyiceberg (its FileIO is chosen from the scheme).
_JAVA_ONLY = {"io-impl", "catalog-impl", "jdbc.user", "jdbc.password", "jdbc.useSSL", "jdbc.verifyServerCertificate"}


def catalog_properties(props: Mapping[str, str]) -> dict[str, str]:
    """``iceberg.catalog.*`` as pyiceberg catalog properties (see the module docstring)."""
    raw = {k[len(CATALOG_PREFIX):]: str(v) for k, v in props.items() if k.startswith(CATALOG_PREFIX)}
    out = {k: v for k, v in raw.items() if k not in _JAVA_ONLY}
    kind = raw.get("type")
    impl = raw.get("catalog-impl")
    if impl:
        if impl not in _CATALOG_IMPLS:
            raise ConfigException.for_key("iceberg.catalog.catalog-impl", impl,
                                          f"Supported catalogs: {', '.join(sorted(_CATALOG_IMPLS))}")
        kind = _CATALOG_IMPLS[impl]
    uri = raw.get("uri", "")
    if kind is None and uri.startswith("jdbc:"):
        kind = "sql"
    if kind is None:
        raise ConfigException.for_key("iceberg.catalog.type", None,
                                      "Set the catalog type (sql, rest, glue) or iceberg.catalog.catalog-impl")
    if kind.lower() not in _CATALOG_TYPES:
        raise ConfigException.for_key("iceberg.catalog.type", kind,
                                      f"Supported catalog types: {', '.join(sorted(_CATALOG_TYPES))}")
    out["type"] = _CATALOG_TYPES[kind.lower()]
    if out["type"] == "sql":
        if not uri:
            raise ConfigException.for_key("iceberg.catalog.uri", None, "The SQL catalog needs a database URI")
        out["uri"] = _sqlalchemy_uri(uri, raw.get("jdbc.user"), raw.get("jdbc.password"))
    return out


def _sqlalchemy_uri(uri: str, user: str | None, password: str | None) -> str:
    """A ``jdbc:`` URI (as Iceberg's JdbcCatalog takes it) as a SQLAlchemy URL string."""
    if not uri.startswith("jdbc:") and user is None and password is None:
        return uri
    from ..jdbc.urls import to_sqlalchemy_url

    return to_sqlalchemy_url(uri, user, password).render_as_string(hide_password=False)


@dataclass(frozen=True)
class TableOptions:
    """What the connector knows about one destination table."""

    name: str
    route_regex: str | None = None
    partition_by: tuple[str, ...] = ()
    id_columns: tuple[str, ...] = ()


@dataclass
class IcebergSinkConfig:
    """The parsed connector config."""

    tables: tuple[str, ...]
    dynamic: bool
    route_field: str | None
    auto_create: bool
    evolve: bool
    force_optional: bool
    upsert: bool
    cdc_field: str | None
    commit_interval_ms: int
    catalog_name: str
    catalog: dict[str, str]
    auto_create_props: dict[str, str]
    default_partition_by: tuple[str, ...]
    default_id_columns: tuple[str, ...]
    table_options: dict[str, TableOptions] = field(default_factory=dict)

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> IcebergSinkConfig:
        values = CONFIG_DEF.parse(props)
        tables = tuple(t.strip() for t in values["iceberg.tables"] if t.strip())
        config = cls(
            tables=tables,
            dynamic=values["iceberg.tables.dynamic-enabled"],
            route_field=(values["iceberg.tables.route-field"] or None),
            auto_create=values["iceberg.tables.auto-create-enabled"],
            evolve=values["iceberg.tables.evolve-schema-enabled"],
            force_optional=values["iceberg.tables.schema-force-optional"],
            upsert=values["iceberg.tables.upsert-mode-enabled"],
            cdc_field=(values["iceberg.tables.cdc-field"] or None),
            commit_interval_ms=int(values["iceberg.control.commit.interval-ms"]),
            catalog_name=values["iceberg.catalog"] or "iceberg",
            catalog=catalog_properties(props),
            auto_create_props={k[len("iceberg.tables.auto-create-props."):]: str(v) for k, v in props.items()
                               if k.startswith("iceberg.tables.auto-create-props.")},
            default_partition_by=_list(values["iceberg.tables.default-partition-by"]),
            default_id_columns=_list(values["iceberg.tables.default-id-columns"]),
        )
        config.table_options = _table_options(props)
        config.check()
        return config

    def check(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.dynamic and not self.route_field:
            errors.setdefault("iceberg.tables.route-field", []).append(
                "Dynamic routing takes the table name from this field: set it")
        if not self.dynamic and not self.tables:
            errors.setdefault("iceberg.tables", []).append(
                "List at least one table, or enable iceberg.tables.dynamic-enabled")
        if errors:
            raise ConfigException(errors=errors)

    def options(self, table: str) -> TableOptions:
        """Per-table options with the connector-wide defaults filled in."""
        own = self.table_options.get(table, TableOptions(table))
        return TableOptions(
            table,
            own.route_regex,
            own.partition_by or self.default_partition_by,
            own.id_columns or self.default_id_columns,
        )

    @property
    def keyed(self) -> bool:
        """Rows are replaced/deleted by id columns (upsert or CDC) rather than appended."""
        return self.upsert or self.cdc_field is not None


def _list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = _split_top_level(value)
    return tuple(str(v).strip() for v in value or () if str(v).strip())


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside parentheses: ``bucket(id, 4), day(ts)`` is two terms."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


_OPTIONS = {"route-regex", "partition-by", "id-columns"}


def _table_options(props: Mapping[str, str]) -> dict[str, TableOptions]:
    found: dict[str, dict[str, str]] = {}
    for key, value in props.items():
        if not key.startswith(TABLE_PREFIX):
            continue
        rest = key[len(TABLE_PREFIX):]
        table, _, option = rest.rpartition(".")
        if option in _OPTIONS and table:
            found.setdefault(table, {})[option] = str(value)
    return {
        table: TableOptions(
            table,
            opts.get("route-regex") or None,
            tuple(p.strip() for p in _split_top_level(opts.get("partition-by", "")) if p.strip()),
            tuple(c.strip() for c in opts.get("id-columns", "").split(",") if c.strip()),
        )
        for table, opts in found.items()
    }
