"""The AWS platform: function aliases and Kafka event source mappings for sinks, Scheduler
schedules for source tasks — converged with boto3, idempotently.

Sink connector ``name`` gets alias ``connect-<name>`` of the sink task function (pointing at a
version published from ``$LATEST``; republished when ``$LATEST`` changes, so deployments reach
every connector on the next reconcile) and one event source mapping per topic, created with the
alias ARN as ``FunctionName``: the sink reads the alias from ``context.invoked_function_arn``.
The mappings are found again by listing the alias's mappings, so a lost state record is healed
by adoption, never by duplicates. Fields Lambda cannot update (topic, starting position,
consumer group, cluster) are changed by delete, wait until gone, create; the rest by update.
Mappings in ``Creating``/``Updating``/``Deleting`` are waited out (bounded) before they are
touched, and throttling or ``ResourceConflictException`` answers are retried with backoff.

Source task ``n`` gets schedule ``<alias>-task-<n>`` in group ``lambda-connect``:
``rate(N minutes)`` from ``poll.interval.ms``, no flexible window, input
``{"connector": name, "task": n}``, no Scheduler retries (the next tick is the retry, and a
retried tick would only overlap the next one). PAUSED/STOPPED disable schedules and mappings.

Environment (``AwsPlatform.from_env``): ``LAMBDA_CONNECT_SINK_FUNCTION``,
``LAMBDA_CONNECT_SOURCE_FUNCTION_ARN``, ``LAMBDA_CONNECT_SCHEDULER_ROLE_ARN``,
``LAMBDA_CONNECT_SCHEDULE_GROUP`` (``lambda-connect``), ``LAMBDA_CONNECT_MSK_CLUSTER_ARN`` or
``LAMBDA_CONNECT_BOOTSTRAP_SERVERS``, ``LAMBDA_CONNECT_KAFKA_AUTH`` +
``LAMBDA_CONNECT_KAFKA_SECRET_ARN``, ``LAMBDA_CONNECT_SUBNET_IDS``,
``LAMBDA_CONNECT_SECURITY_GROUP_IDS`` (self-managed clusters in a VPC).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lambda_connect.api.errors import ConfigException
from lambda_connect.runtime.platform import (
    PlatformError,
    PlatformThrottled,
    SinkSpec,
    SourceSpec,
    connector_alias,
    schedule_name,
    schedule_prefix,
    schedule_rate_minutes,
)

__all__ = ["AwsPlatform", "source_access_configurations"]

TAG = "lambda-connect:connector"
_THROTTLED = frozenset({
    "TooManyRequestsException", "ThrottlingException", "Throttling", "ThrottledException",
    "RequestLimitExceeded", "ServiceUnavailableException",
})
_BUSY = frozenset({"ResourceConflictException", "ResourceInUseException"})
_NOT_FOUND = frozenset({"ResourceNotFoundException"})
_TRANSITIONAL = frozenset({"Creating", "Updating", "Deleting"})
_ENABLED = frozenset({"Enabled", "Enabling"})
_TAG_VALUE = re.compile(r"^[\w.:/=+\-@ ]{0,256}$")

_MSK_AUTH = {"none": None, "iam": None, "scram-sha-512": "SASL_SCRAM_512_AUTH"}
_SELF_MANAGED_AUTH = {
    "none": None,
    "plain": "BASIC_AUTH",
    "scram-sha-256": "SASL_SCRAM_256_AUTH",
    "scram-sha-512": "SASL_SCRAM_512_AUTH",
}


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def source_access_configurations(env: Mapping[str, str], *, msk: bool) -> list[dict[str, str]]:
    """The ESM's ``SourceAccessConfigurations`` for the cluster described by ``env``.

    MSK authenticates with the function's role (IAM) or a SCRAM-512 secret; a self-managed cluster
    with BASIC (SASL/PLAIN) or SCRAM secrets and, inside a VPC, subnets and security groups.
    """
    auth = (env.get("LAMBDA_CONNECT_KAFKA_AUTH") or "none").strip().lower()
    table = _MSK_AUTH if msk else _SELF_MANAGED_AUTH
    if auth not in table:
        kind = "an MSK" if msk else "a self-managed Kafka"
        raise ConfigException.for_key(
            "LAMBDA_CONNECT_KAFKA_AUTH", auth,
            f"{kind} event source mapping supports {', '.join(table)}",
        )
    out: list[dict[str, str]] = []
    if table[auth] is not None:
        secret = (env.get("LAMBDA_CONNECT_KAFKA_SECRET_ARN") or "").strip()
        if not secret:
            raise ConfigException.for_key(
                "LAMBDA_CONNECT_KAFKA_SECRET_ARN", None, f"authentication '{auth}' needs the secret's ARN"
            )
        out.append({"Type": table[auth], "URI": secret})
    if not msk:
        out += [{"Type": "VPC_SUBNET", "URI": f"subnet:{s}"} for s in _csv(env.get("LAMBDA_CONNECT_SUBNET_IDS"))]
        out += [
            {"Type": "VPC_SECURITY_GROUP", "URI": f"security_group:{g}"}
            for g in _csv(env.get("LAMBDA_CONNECT_SECURITY_GROUP_IDS"))
        ]
    return out


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


class AwsPlatform:
    """The :class:`~lambda_connect.runtime.platform.Platform` on AWS Lambda and EventBridge Scheduler.

    Clients are injected (boto3 clients, or Stubber/moto-backed ones in tests); ``admin_factory``
    builds a confluent-kafka AdminClient when ``topics.regex`` needs the topic list. ``sleep`` and
    ``clock`` drive the bounded waits and backoffs, so tests run them instantly.
    """

    def __init__(
        self,
        lambda_client: Any,
        scheduler_client: Any,
        admin_factory: Callable[[], Any] | None = None,
        *,
        sink_function_name: str | None = None,
        source_function_arn: str | None = None,
        scheduler_role_arn: str | None = None,
        schedule_group: str = "lambda-connect",
        msk_cluster_arn: str | None = None,
        bootstrap_servers: Sequence[str] | str | None = None,
        source_access_configurations: Sequence[Mapping[str, str]] = (),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wait_timeout: float = 300.0,
        poll_seconds: float = 5.0,
        attempts: int = 8,
    ) -> None:
        self.lambda_client = lambda_client
        self.scheduler = scheduler_client
        self.admin_factory = admin_factory
        self.sink_function_name = sink_function_name
        self.source_function_arn = source_function_arn
        self.scheduler_role_arn = scheduler_role_arn
        self.schedule_group = schedule_group
        self.msk_cluster_arn = msk_cluster_arn or None
        if isinstance(bootstrap_servers, str):
            bootstrap_servers = _csv(bootstrap_servers)
        self.bootstrap_servers = list(bootstrap_servers or [])
        self.access = [dict(c) for c in source_access_configurations]
        self._sleep, self._clock = sleep, clock
        self._wait_timeout, self._poll_seconds, self._attempts = wait_timeout, poll_seconds, max(1, attempts)
        self._admin: Any = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] = os.environ, *, lambda_client: Any = None, scheduler_client: Any = None
    ) -> AwsPlatform:
        """Build from the reconciler function's environment (see the module docstring)."""
        if lambda_client is None or scheduler_client is None:
            import boto3

            lambda_client = lambda_client or boto3.client("lambda")
            scheduler_client = scheduler_client or boto3.client("scheduler")
        msk = (env.get("LAMBDA_CONNECT_MSK_CLUSTER_ARN") or "").strip() or None
        bootstrap = _csv(env.get("LAMBDA_CONNECT_BOOTSTRAP_SERVERS"))

        def admin() -> Any:
            from .kafka_clients import kafka_settings_from_env, make_admin

            return make_admin(kafka_settings_from_env(env))

        return cls(
            lambda_client,
            scheduler_client,
            admin if bootstrap else None,
            sink_function_name=env.get("LAMBDA_CONNECT_SINK_FUNCTION") or None,
            source_function_arn=env.get("LAMBDA_CONNECT_SOURCE_FUNCTION_ARN") or None,
            scheduler_role_arn=env.get("LAMBDA_CONNECT_SCHEDULER_ROLE_ARN") or None,
            schedule_group=env.get("LAMBDA_CONNECT_SCHEDULE_GROUP") or "lambda-connect",
            msk_cluster_arn=msk,
            bootstrap_servers=bootstrap,
            source_access_configurations=source_access_configurations(env, msk=msk is not None),
        )

    # -- the Platform protocol -----------------------------------------------------------------

    def list_topics(self) -> list[str]:
        if self.admin_factory is None:
            raise PlatformError("topics.regex needs the cluster's topic list: set LAMBDA_CONNECT_BOOTSTRAP_SERVERS")
        from .kafka_clients import list_topics

        if self._admin is None:
            self._admin = self.admin_factory()
        return list_topics(self._admin)

    def ensure_sink(self, name: str, spec: SinkSpec, current: dict) -> dict:
        resources: dict[str, Any] = {}
        try:
            resources.update(self._ensure_alias(name, spec.alias, current))
            resources["esms"] = {}
            self._ensure_mappings(name, spec, resources["alias_arn"], resources["esms"])
        except PlatformError as e:
            raise type(e)(str(e), {**resources, **e.resources}) from e
        except Exception as e:
            raise PlatformError(f"{type(e).__name__}: {e}", resources) from e
        resources["consumer_groups"] = {t: m["consumer_group"] for t, m in resources["esms"].items()}
        return resources

    def ensure_source(self, name: str, spec: SourceSpec, current: dict) -> dict:
        names: list[str] = []
        try:
            self._ensure_schedules(name, spec, names)
        except PlatformError as e:
            raise type(e)(str(e), {"schedules": names, **e.resources}) from e
        except Exception as e:
            raise PlatformError(f"{type(e).__name__}: {e}", {"schedules": names}) from e
        return {"schedules": names, "schedule_group": self.schedule_group}

    def remove(self, name: str, current: dict) -> None:
        alias = current.get("alias") or connector_alias(name)
        kind = current.get("kind")
        try:
            if kind != "source" and self.sink_function_name:
                self._remove_sink(alias, current)
            if kind != "sink":
                self._remove_schedules(alias, current)
        except PlatformError:
            raise
        except Exception as e:
            raise PlatformError(f"{type(e).__name__}: {e}", current) from e

    # -- calls ---------------------------------------------------------------------------------

    def _call(self, client: Any, operation: str, *, busy_retry: bool = False, **params: Any) -> Any:
        """One API call, retried with exponential backoff while AWS throttles (or, for mapping
        changes, while the mapping is busy changing state)."""
        for attempt in range(self._attempts):
            try:
                return getattr(client, operation)(**params)
            except Exception as e:
                code = _code(e)
                if code not in _THROTTLED and not (busy_retry and code in _BUSY):
                    raise
                if attempt == self._attempts - 1:
                    raise PlatformThrottled(f"{operation} kept failing with {code}: {e}") from e
                self._sleep(min(30.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def _lambda(self, operation: str, **params: Any) -> Any:
        return self._call(self.lambda_client, operation, **params)

    def _get_or_none(self, client: Any, operation: str, **params: Any) -> Any:
        try:
            return self._call(client, operation, **params)
        except Exception as e:
            if _code(e) in _NOT_FOUND:
                return None
            raise

    # -- sink: alias -----------------------------------------------------------------------------

    def _function(self) -> str:
        if not self.sink_function_name:
            raise PlatformError("Sink connectors need the sink task function: set LAMBDA_CONNECT_SINK_FUNCTION")
        return self.sink_function_name

    def _ensure_alias(self, name: str, alias: str, current: dict) -> dict[str, Any]:
        """Alias ``alias`` → a version published from ``$LATEST`` as it is now."""
        function = self._function()
        latest = self._lambda("get_function_configuration", FunctionName=function)
        stamp = f"{latest['CodeSha256']}@{latest.get('LastModified', '')}"
        found = self._get_or_none(self.lambda_client, "get_alias", FunctionName=function, Name=alias)
        if found is not None and current.get("function_stamp") == stamp and \
                current.get("function_version") == found["FunctionVersion"]:
            return self._alias_record(alias, found, stamp)
        if found is not None and "function_stamp" not in current:
            # State lost (or a first adoption): keep the alias if its version runs today's code.
            pinned = self._lambda("get_function_configuration", FunctionName=function,
                                  Qualifier=found["FunctionVersion"])
            if pinned["CodeSha256"] == latest["CodeSha256"]:
                return self._alias_record(alias, found, stamp)
        version = self._lambda("publish_version", FunctionName=function, CodeSha256=latest["CodeSha256"],
                               Description="lambda-connect sink task")["Version"]
        if found is None:
            found = self._lambda("create_alias", FunctionName=function, Name=alias, FunctionVersion=version,
                                 Description=f"lambda-connect sink connector {name}"[:256])
        elif found["FunctionVersion"] != version:
            found = self._lambda("update_alias", FunctionName=function, Name=alias, FunctionVersion=version)
        return self._alias_record(alias, found, stamp)

    @staticmethod
    def _alias_record(alias: str, found: Mapping[str, Any], stamp: str) -> dict[str, Any]:
        return {"alias": alias, "alias_arn": found["AliasArn"], "function_version": found["FunctionVersion"],
                "function_stamp": stamp}

    # -- sink: event source mappings -----------------------------------------------------------

    def _mappings(self, alias_arn: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"FunctionName": alias_arn}
        while True:
            page = self._lambda("list_event_source_mappings", **params)
            yield from page.get("EventSourceMappings", [])
            if not page.get("NextMarker"):
                return
            params["Marker"] = page["NextMarker"]

    def _desired_mapping(self, name: str, spec: SinkSpec, topic: str) -> dict[str, Any]:
        """The create request for ``topic``'s mapping (without FunctionName and Tags)."""
        s = spec.settings
        group = spec.consumer_groups[topic]
        params: dict[str, Any] = {
            "Topics": [topic],
            "StartingPosition": s.starting_position,
            "BatchSize": s.batch_size,
            "Enabled": spec.enabled,
        }
        if s.starting_position == "AT_TIMESTAMP" and s.starting_position_timestamp_ms is not None:
            params["StartingPositionTimestamp"] = datetime.fromtimestamp(s.starting_position_timestamp_ms / 1000, UTC)
        if self.msk_cluster_arn:
            params["EventSourceArn"] = self.msk_cluster_arn
            params["AmazonManagedKafkaEventSourceConfig"] = {"ConsumerGroupId": group}
        elif self.bootstrap_servers:
            params["SelfManagedEventSource"] = {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": list(self.bootstrap_servers)}}
            params["SelfManagedKafkaEventSourceConfig"] = {"ConsumerGroupId": group}
        else:
            raise PlatformError(
                "Sink connectors need the Kafka cluster: set LAMBDA_CONNECT_MSK_CLUSTER_ARN or "
                "LAMBDA_CONNECT_BOOTSTRAP_SERVERS"
            )
        if self.access:
            params["SourceAccessConfigurations"] = [dict(c) for c in self.access]
        if s.batching_window_seconds is not None:
            params["MaximumBatchingWindowInSeconds"] = s.batching_window_seconds
        if s.provisioned:
            poller: dict[str, Any] = {"MinimumPollers": s.pollers_min or 1, "MaximumPollers": s.pollers_max or 200}
            if s.poller_group:
                poller["PollerGroupName"] = s.poller_group
            params["ProvisionedPollerConfig"] = poller
        if s.maximum_retry_attempts is not None:
            params["MaximumRetryAttempts"] = s.maximum_retry_attempts
        if s.maximum_record_age_seconds is not None:
            params["MaximumRecordAgeInSeconds"] = s.maximum_record_age_seconds
        if s.bisect_batch_on_error:
            params["BisectBatchOnFunctionError"] = True
        if s.report_batch_item_failures:
            params["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
        if s.on_failure_destination:
            params["DestinationConfig"] = {"OnFailure": {"Destination": s.on_failure_destination}}
        return params

    def _ensure_mappings(self, name: str, spec: SinkSpec, alias_arn: str, out: dict[str, Any]) -> None:
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for mapping in self._mappings(alias_arn):
            by_topic.setdefault((mapping.get("Topics") or [""])[0], []).append(mapping)
        desired = {t: self._desired_mapping(name, spec, t) for t in spec.topics}
        wanted_groups = {spec.consumer_groups[t] for t in spec.topics}
        # Mappings of topics no longer consumed go first: their group id may be reused below.
        for topic in [t for t in by_topic if t not in desired]:
            for mapping in by_topic.pop(topic):
                self._delete_mapping(mapping, wait=_group_of(mapping) in wanted_groups)
        for topic, want in desired.items():
            keep = None
            for mapping in by_topic.get(topic, []):
                if keep is None and _create_only_change(mapping, want) is None:
                    keep = mapping
                else:
                    self._delete_mapping(mapping, wait=True)
            if keep is not None and keep.get("State") in _TRANSITIONAL:
                keep = self._settle(keep["UUID"])
            if keep is None:
                keep = self._lambda(
                    "create_event_source_mapping", FunctionName=alias_arn, Tags={TAG: _tag_value(name, spec.alias)},
                    **want,
                )
            else:
                changes = _mutable_changes(keep, want)
                if changes:
                    keep = self._call(self.lambda_client, "update_event_source_mapping", busy_retry=True,
                                      UUID=keep["UUID"], **changes)
            out[topic] = {"uuid": keep["UUID"], "consumer_group": spec.consumer_groups[topic],
                          "state": keep.get("State", "")}

    def _settle(self, uuid: str) -> dict[str, Any] | None:
        """Wait until mapping ``uuid`` leaves Creating/Updating/Deleting; None once it is gone."""
        deadline = self._clock() + self._wait_timeout
        while True:
            mapping = self._get_or_none(self.lambda_client, "get_event_source_mapping", UUID=uuid)
            if mapping is None or mapping.get("State") not in _TRANSITIONAL:
                return mapping
            if self._clock() >= deadline:
                raise PlatformThrottled(
                    f"Event source mapping {uuid} is still {mapping.get('State')} after {self._wait_timeout:.0f}s"
                )
            self._sleep(self._poll_seconds)

    def _delete_mapping(self, mapping: Mapping[str, Any], *, wait: bool) -> None:
        uuid = mapping["UUID"]
        if mapping.get("State") in ("Creating", "Updating") and self._settle(uuid) is None:
            return
        if mapping.get("State") != "Deleting":
            try:
                self._call(self.lambda_client, "delete_event_source_mapping", busy_retry=True, UUID=uuid)
            except Exception as e:
                if _code(e) not in _NOT_FOUND:
                    raise
                return
        if wait and self._settle(uuid) is not None:
            raise PlatformThrottled(f"Event source mapping {uuid} was not deleted")

    def _remove_sink(self, alias: str, current: dict) -> None:
        function = self._function()
        found = self._get_or_none(self.lambda_client, "get_alias", FunctionName=function, Name=alias)
        arn = found["AliasArn"] if found else current.get("alias_arn")
        seen: set[str] = set()
        if arn:
            for mapping in list(self._mappings(arn)):
                seen.add(mapping["UUID"])
                self._delete_mapping(mapping, wait=True)
        for record in (current.get("esms") or {}).values():
            if record.get("uuid") and record["uuid"] not in seen:
                self._delete_mapping({"UUID": record["uuid"]}, wait=True)
        if found is not None:
            try:
                self._lambda("delete_alias", FunctionName=function, Name=alias)
            except Exception as e:
                if _code(e) not in _NOT_FOUND:
                    raise

    # -- source: schedules -----------------------------------------------------------------------

    def _scheduler(self, operation: str, **params: Any) -> Any:
        return self._call(self.scheduler, operation, **params)

    def _existing_schedules(self, alias: str) -> set[str]:
        prefix = schedule_prefix(alias)
        pattern = re.compile(re.escape(prefix) + r"\d+")
        params: dict[str, Any] = {"GroupName": self.schedule_group, "NamePrefix": prefix}
        names: set[str] = set()
        while True:
            page = self._get_or_none(self.scheduler, "list_schedules", **params)
            if page is None:  # no group yet: no schedules
                return names
            names.update(s["Name"] for s in page.get("Schedules", []) if pattern.fullmatch(s["Name"]))
            if not page.get("NextToken"):
                return names
            params["NextToken"] = page["NextToken"]

    def _desired_schedule(self, name: str, spec: SourceSpec, task: int) -> dict[str, Any]:
        if not self.source_function_arn or not self.scheduler_role_arn:
            raise PlatformError(
                "Source connectors need LAMBDA_CONNECT_SOURCE_FUNCTION_ARN and LAMBDA_CONNECT_SCHEDULER_ROLE_ARN"
            )
        minutes = schedule_rate_minutes(spec.poll_interval_ms)
        return {
            "Name": schedule_name(spec.alias, task),
            "GroupName": self.schedule_group,
            "ScheduleExpression": f"rate({minutes} minute{'s' if minutes > 1 else ''})",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if spec.enabled else "DISABLED",
            "Description": f"lambda-connect source task {task} of connector {name}"[:512],
            "Target": {
                "Arn": self.source_function_arn,
                "RoleArn": self.scheduler_role_arn,
                "Input": json.dumps({"connector": name, "task": task}, separators=(",", ":")),
                "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
            },
        }

    def _ensure_schedules(self, name: str, spec: SourceSpec, out: list[str]) -> None:
        existing = self._existing_schedules(spec.alias)
        for task in range(spec.tasks):
            want = self._desired_schedule(name, spec, task)
            if want["Name"] in existing:
                got = self._scheduler("get_schedule", Name=want["Name"], GroupName=self.schedule_group)
                if not _same_schedule(got, want):
                    self._scheduler("update_schedule", **want)
            else:
                self._create_schedule(want)
            out.append(want["Name"])
        for extra in sorted(existing - set(out)):
            self._delete_schedule(extra)

    def _create_schedule(self, want: dict[str, Any]) -> None:
        try:
            self._scheduler("create_schedule", **want)
        except Exception as e:
            code = _code(e)
            if code in _NOT_FOUND and "group" in str(e).lower():
                self._scheduler("create_schedule_group", Name=self.schedule_group)
                self._scheduler("create_schedule", **want)
            elif code == "ConflictException":  # created concurrently: converge it instead
                self._scheduler("update_schedule", **want)
            else:
                raise

    def _delete_schedule(self, schedule: str) -> None:
        try:
            self._scheduler("delete_schedule", Name=schedule, GroupName=self.schedule_group)
        except Exception as e:
            if _code(e) not in _NOT_FOUND:
                raise

    def _remove_schedules(self, alias: str, current: dict) -> None:
        names = self._existing_schedules(alias) | set(current.get("schedules") or [])
        for schedule in sorted(names):
            self._delete_schedule(schedule)


# -- comparisons ---------------------------------------------------------------------------------


def _group_of(mapping: Mapping[str, Any]) -> str | None:
    for key in ("AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig"):
        group = (mapping.get(key) or {}).get("ConsumerGroupId")
        if group:
            return str(group)
    return None


def _create_only_change(actual: Mapping[str, Any], want: Mapping[str, Any]) -> str | None:
    """The first field Lambda cannot update that differs, or None."""
    if list(actual.get("Topics") or []) != want["Topics"]:
        return "Topics"
    if actual.get("StartingPosition") != want["StartingPosition"]:
        return "StartingPosition"
    stamp = want.get("StartingPositionTimestamp")
    if stamp is not None and actual.get("StartingPositionTimestamp") != stamp:
        return "StartingPositionTimestamp"
    if _group_of(actual) != _group_of(want):
        return "ConsumerGroupId"
    if actual.get("EventSourceArn") != want.get("EventSourceArn"):
        return "EventSourceArn"
    if _endpoints(actual) != _endpoints(want):
        return "SelfManagedEventSource"
    return None


def _endpoints(mapping: Mapping[str, Any]) -> list[str]:
    endpoints = (mapping.get("SelfManagedEventSource") or {}).get("Endpoints") or {}
    return sorted(endpoints.get("KAFKA_BOOTSTRAP_SERVERS") or [])


def _access_key(configs: Any) -> list[tuple[str, str]]:
    return sorted((c.get("Type", ""), c.get("URI", "")) for c in configs or [])


def _mutable_changes(actual: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, Any]:
    """The update request turning ``actual`` into ``want`` (empty when they already agree)."""
    changes: dict[str, Any] = {}
    if (actual.get("State") in _ENABLED) != want["Enabled"]:
        changes["Enabled"] = want["Enabled"]
    if actual.get("BatchSize") != want["BatchSize"]:
        changes["BatchSize"] = want["BatchSize"]
    if "MaximumBatchingWindowInSeconds" in want and \
            actual.get("MaximumBatchingWindowInSeconds") != want["MaximumBatchingWindowInSeconds"]:
        changes["MaximumBatchingWindowInSeconds"] = want["MaximumBatchingWindowInSeconds"]
    have_poller = actual.get("ProvisionedPollerConfig") or None
    want_poller = want.get("ProvisionedPollerConfig")
    if have_poller != want_poller:
        changes["ProvisionedPollerConfig"] = want_poller or {}  # {} switches back to on-demand
    for key, default in (("MaximumRetryAttempts", -1), ("MaximumRecordAgeInSeconds", -1),
                         ("BisectBatchOnFunctionError", False)):
        if actual.get(key, default) != want.get(key, default):
            changes[key] = want.get(key, default)
    if list(actual.get("FunctionResponseTypes") or []) != list(want.get("FunctionResponseTypes") or []):
        changes["FunctionResponseTypes"] = list(want.get("FunctionResponseTypes") or [])
    have_dest = ((actual.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    want_dest = ((want.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if (have_dest or None) != (want_dest or None):
        changes["DestinationConfig"] = {"OnFailure": {"Destination": want_dest} if want_dest else {}}
    if _access_key(actual.get("SourceAccessConfigurations")) != _access_key(want.get("SourceAccessConfigurations")):
        changes["SourceAccessConfigurations"] = list(want.get("SourceAccessConfigurations") or [])
    return changes


def _same_schedule(got: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    target, want_target = got.get("Target") or {}, want["Target"]
    try:
        same_input = json.loads(target.get("Input") or "null") == json.loads(want_target["Input"])
    except ValueError:
        same_input = False
    retry = target.get("RetryPolicy") or {}
    return (
        got.get("ScheduleExpression") == want["ScheduleExpression"]
        and got.get("State") == want["State"]
        and (got.get("FlexibleTimeWindow") or {}).get("Mode") == "OFF"
        and target.get("Arn") == want_target["Arn"]
        and target.get("RoleArn") == want_target["RoleArn"]
        and same_input
        and retry.get("MaximumRetryAttempts") == want_target["RetryPolicy"]["MaximumRetryAttempts"]
    )


def _tag_value(name: str, alias: str) -> str:
    return name if _TAG_VALUE.match(name) else alias
