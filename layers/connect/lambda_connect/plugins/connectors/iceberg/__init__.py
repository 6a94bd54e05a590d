"""Apache Iceberg sink on pyiceberg + pyarrow: exactly once through offsets kept in the snapshots."""
