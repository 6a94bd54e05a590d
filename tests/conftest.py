"""Shared fixtures: real services (PostgreSQL, MariaDB), the embedded Kafka broker, AWS via moto."""

import os

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.broker", "tests.fixtures.messaging"]

# moto and boto3 must never reach a real AWS endpoint from the tests.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
