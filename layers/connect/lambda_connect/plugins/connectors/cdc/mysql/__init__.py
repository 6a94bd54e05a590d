"""MySQL and MariaDB change data capture from the row-based binlog (``mysql-replication``)."""
