"""PostgreSQL change data capture through a logical replication slot and the built-in pgoutput plugin."""
