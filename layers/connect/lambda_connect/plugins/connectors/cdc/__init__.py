"""Change data capture sources: PostgreSQL (``postgres/``, logical decoding with pgoutput) and
MySQL/MariaDB (``mysql/``, the row-based binlog). ``common.py`` holds what both share: the
change-event envelope in Debezium's shape, table/column filters, and the bookkeeping that lets a
task confirm only the changes Kafka acknowledged."""
