"""Redis sink (Redis Kafka Connect's ``RedisSinkConnector``) on redis-py."""
