"""Client configuration for every authentication mode, from the function's environment."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from lambda_connect.api.errors import ConfigException
from lambda_connect.aws.kafka_clients import (
    KafkaSettings,
    client_config,
    consumer_config,
    kafka_settings_from_env,
    make_admin,
    make_consumer,
    make_producer,
    prefixed_overrides,
    producer_config,
)

BOOTSTRAP = "b-1.example:9096,b-2.example:9096"
REGION = "eu-west-1"


@pytest.fixture
def scram_secret() -> Iterator[tuple[str, Any]]:
    """A moto Secrets Manager secret in the MSK SCRAM shape, and the client that reads it."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("secretsmanager", region_name=REGION)
        arn = client.create_secret(
            Name="AmazonMSK_connect", SecretString=json.dumps({"username": "connect", "password": "s3cr3t!"})
        )["ARN"]
        yield arn, client


def env(**values: str) -> dict[str, str]:
    return {"LAMBDA_CONNECT_BOOTSTRAP_SERVERS": BOOTSTRAP, **values}


class TestNoAuth:
    def test_plaintext_by_default(self) -> None:
        settings = kafka_settings_from_env(env())
        assert settings.auth == "none" and settings.tls is False
        assert client_config(settings) == {"bootstrap.servers": BOOTSTRAP, "security.protocol": "PLAINTEXT"}

    def test_tls_on_request(self) -> None:
        settings = kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_TLS="true"))
        assert client_config(settings)["security.protocol"] == "SSL"

    def test_bootstrap_servers_are_required(self) -> None:
        with pytest.raises(ConfigException) as info:
            kafka_settings_from_env({})
        assert "LAMBDA_CONNECT_BOOTSTRAP_SERVERS" in info.value.errors

    def test_unknown_auth_mode(self) -> None:
        with pytest.raises(ConfigException, match="LAMBDA_CONNECT_KAFKA_AUTH"):
            kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_AUTH="kerberos"))

    def test_bad_boolean(self) -> None:
        with pytest.raises(ConfigException, match="Invalid value maybe for configuration LAMBDA_CONNECT_KAFKA_TLS"):
            kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_TLS="maybe"))


class TestPropertyPassThrough:
    def test_prefixed_env_becomes_librdkafka_property(self) -> None:
        settings = kafka_settings_from_env(
            env(
                LAMBDA_CONNECT_KAFKA_LINGER_MS="20",
                LAMBDA_CONNECT_KAFKA_SSL_CA_LOCATION="/etc/ca.pem",
                LAMBDA_CONNECT_KAFKA_TLS="false",
                LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN="1",
            )
        )
        config = client_config(settings)
        assert config["linger.ms"] == "20"
        assert config["ssl.ca.location"] == "/etc/ca.pem"
        # the module's own switches are not passed to librdkafka
        assert not any(key.startswith(("tls", "fast", "auth", "secret")) for key in config)

    def test_overrides_win_over_settings(self) -> None:
        settings = kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_LINGER_MS="20"))
        assert client_config(settings, {"linger.ms": 5})["linger.ms"] == 5

    def test_prefixed_overrides(self) -> None:
        props = {"producer.override.linger.ms": "7", "producer.override.": "x", "topics": "a"}
        assert prefixed_overrides(props, "producer.override.") == {"linger.ms": "7"}


class TestSasl:
    @pytest.mark.parametrize(
        ("auth", "mechanism"), [("scram-sha-512", "SCRAM-SHA-512"), ("scram-sha-256", "SCRAM-SHA-256")]
    )
    def test_scram_reads_credentials_from_secrets_manager(
        self, scram_secret: tuple[str, Any], auth: str, mechanism: str
    ) -> None:
        arn, client = scram_secret
        settings = kafka_settings_from_env(
            env(LAMBDA_CONNECT_KAFKA_AUTH=auth, LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn), secrets_client=client
        )
        assert client_config(settings) == {
            "bootstrap.servers": BOOTSTRAP,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism,
            "sasl.username": "connect",
            "sasl.password": "s3cr3t!",
        }
        assert "s3cr3t!" not in repr(settings)

    def test_secret_fetched_with_boto3_when_no_client_given(self, scram_secret: tuple[str, Any]) -> None:
        arn, _ = scram_secret
        settings = kafka_settings_from_env(
            env(LAMBDA_CONNECT_KAFKA_AUTH="SCRAM-SHA-512", LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn)
        )
        assert (settings.username, settings.password) == ("connect", "s3cr3t!")

    def test_scram_without_tls_on_request(self, scram_secret: tuple[str, Any]) -> None:
        arn, client = scram_secret
        settings = kafka_settings_from_env(
            env(
                LAMBDA_CONNECT_KAFKA_AUTH="scram-sha-512",
                LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn,
                LAMBDA_CONNECT_KAFKA_TLS="false",
            ),
            secrets_client=client,
        )
        assert client_config(settings)["security.protocol"] == "SASL_PLAINTEXT"

    def test_plain_defaults_to_tls_like_the_event_source_mapping(self, scram_secret: tuple[str, Any]) -> None:
        arn, client = scram_secret
        settings = kafka_settings_from_env(
            env(LAMBDA_CONNECT_KAFKA_AUTH="plain", LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn), secrets_client=client
        )
        config = client_config(settings)
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "PLAIN"
        assert config["sasl.username"] == "connect"

    def test_plain_without_tls_when_asked(self, scram_secret: tuple[str, Any]) -> None:
        arn, client = scram_secret
        settings = kafka_settings_from_env(
            env(
                LAMBDA_CONNECT_KAFKA_AUTH="plain",
                LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn,
                LAMBDA_CONNECT_KAFKA_TLS="false",
            ),
            secrets_client=client,
        )
        assert client_config(settings)["security.protocol"] == "SASL_PLAINTEXT"

    def test_plain_with_credentials_in_properties(self) -> None:
        settings = kafka_settings_from_env(
            env(
                LAMBDA_CONNECT_KAFKA_AUTH="plain",
                LAMBDA_CONNECT_KAFKA_SASL_USERNAME="u",
                LAMBDA_CONNECT_KAFKA_SASL_PASSWORD="p",
            )
        )
        config = client_config(settings)
        assert (config["sasl.username"], config["sasl.password"]) == ("u", "p")

    def test_scram_without_secret_is_rejected(self) -> None:
        with pytest.raises(ConfigException) as info:
            kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_AUTH="scram-sha-512"))
        assert "LAMBDA_CONNECT_KAFKA_SECRET_ARN" in info.value.errors

    def test_secret_without_password_is_rejected(self, scram_secret: tuple[str, Any]) -> None:
        _, client = scram_secret
        arn = client.create_secret(Name="incomplete", SecretString=json.dumps({"username": "connect"}))["ARN"]
        with pytest.raises(ConfigException, match='"username" and "password"'):
            kafka_settings_from_env(
                env(LAMBDA_CONNECT_KAFKA_AUTH="scram-sha-512", LAMBDA_CONNECT_KAFKA_SECRET_ARN=arn),
                secrets_client=client,
            )


class TestIam:
    def test_oauthbearer_with_signer_token(self) -> None:
        settings = kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_AUTH="iam", AWS_REGION=REGION))
        assert settings.tls is True and settings.region == REGION
        with mock.patch(
            "aws_msk_iam_sasl_signer.MSKAuthTokenProvider.generate_auth_token",
            return_value=("signed-token", 1_764_029_700_000),
        ) as generate:
            config = client_config(settings)
            assert config["security.protocol"] == "SASL_SSL"
            assert config["sasl.mechanism"] == "OAUTHBEARER"
            assert "sasl.username" not in config
            token, expiry = config["oauth_cb"]("")
        generate.assert_called_once_with(REGION)
        # librdkafka wants seconds since the epoch; the signer returns milliseconds
        assert (token, expiry) == ("signed-token", 1_764_029_700.0)

    def test_own_region_variable_wins(self) -> None:
        settings = kafka_settings_from_env(
            env(LAMBDA_CONNECT_KAFKA_AUTH="iam", AWS_REGION="us-east-1", LAMBDA_CONNECT_AWS_REGION=REGION)
        )
        assert settings.region == REGION

    def test_iam_needs_a_region(self) -> None:
        with pytest.raises(ConfigException) as info:
            kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_AUTH="iam"))
        assert "LAMBDA_CONNECT_AWS_REGION" in info.value.errors

    def test_iam_needs_tls(self) -> None:
        with pytest.raises(ConfigException, match="requires TLS"):
            kafka_settings_from_env(
                env(LAMBDA_CONNECT_KAFKA_AUTH="iam", AWS_REGION=REGION, LAMBDA_CONNECT_KAFKA_TLS="0")
            )

    @pytest.mark.parametrize("factory", ["producer", "consumer", "admin"])
    def test_every_client_fetches_a_token_when_created(self, factory: str) -> None:
        settings = KafkaSettings("127.0.0.1:1", auth="iam", tls=True, region=REGION)
        expiry_ms = int((time.time() + 900) * 1000)
        with mock.patch(
            "aws_msk_iam_sasl_signer.MSKAuthTokenProvider.generate_auth_token",
            return_value=("signed-token", expiry_ms),
        ) as generate:
            if factory == "producer":
                make_producer(settings).flush(0)
            elif factory == "consumer":
                make_consumer(settings, "g").close()
            else:
                make_admin(settings)
        generate.assert_called_with(REGION)


class TestClientDefaults:
    SETTINGS = KafkaSettings("127.0.0.1:9092")

    def test_producer_is_idempotent_with_acks_all(self) -> None:
        config = producer_config(self.SETTINGS)
        assert config["enable.idempotence"] is True and config["acks"] == "all"
        assert "transactional.id" not in config

    def test_weaker_acks_turn_idempotence_off_like_kafka(self) -> None:
        config = producer_config(self.SETTINGS, {"acks": "1"})
        assert config["enable.idempotence"] is False and config["acks"] == "1"
        explicit = producer_config(self.SETTINGS, {"acks": "1", "enable.idempotence": True})
        assert explicit["enable.idempotence"] is True

    def test_transactional_id(self) -> None:
        assert producer_config(self.SETTINGS, transactional_id="connect-src-0")["transactional.id"] == "connect-src-0"

    def test_consumer_defaults_keep_librdkafka_queue_settings(self) -> None:
        config = consumer_config(self.SETTINGS, "connect-orders")
        assert config["group.id"] == "connect-orders"
        assert config["enable.auto.commit"] is False
        assert config["auto.offset.reset"] == "earliest"
        assert not {"session.timeout.ms", "queued.min.messages", "fetch.queue.backoff.ms"} & set(config)

    def test_fast_group_join_from_env_or_request(self) -> None:
        fast = kafka_settings_from_env(env(LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN="1"))
        assert consumer_config(fast, "g")["session.timeout.ms"] == "6000"
        assert consumer_config(fast, "g")["heartbeat.interval.ms"] == "1000"
        assert "session.timeout.ms" not in consumer_config(fast, "g", fast_group_join=False)
        assert consumer_config(self.SETTINGS, "g", fast_group_join=True)["session.timeout.ms"] == "6000"
        assert consumer_config(fast, "g", {"session.timeout.ms": 10000})["session.timeout.ms"] == 10000

    def test_clients_are_created(self) -> None:
        make_producer(self.SETTINGS).flush(0)
        make_consumer(self.SETTINGS, "g").close()
        assert make_admin(self.SETTINGS) is not None


def test_importing_the_module_does_not_import_boto3_or_the_signer() -> None:
    code = (
        "import sys, lambda_connect.aws.kafka_clients, lambda_connect.aws.kafka_event;"
        "print(sorted(m for m in ('boto3', 'aws_msk_iam_sasl_signer', 'confluent_kafka') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
