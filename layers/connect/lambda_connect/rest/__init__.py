"""Kafka Connect's REST API, framework-free: ``router`` (paths → :class:`ConnectService`),
``resources`` (the semantics), ``entities`` (JSON shapes), ``openapi`` (the generated
document) and ``http_api`` (API Gateway HTTP API events)."""
