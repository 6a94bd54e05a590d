"""The Kafka Connect REST semantics (reference §1.4), without HTTP.

:class:`ConnectService` is what ``ConnectorsResource``/``ConnectorPluginsResource`` do in a
Kafka Connect worker, over the state table instead of a herder: every write is a versioned
state-table change, and ``on_change(name)`` tells a local runtime to reconcile at once (in AWS
the table's stream triggers the reconciler). Methods return plain JSON values; the router
picks the status codes. Failures are :class:`RestError` or the ``api.errors`` tree, mapped by
the router the way Kafka's exception mapper does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import lambda_connect
from lambda_connect.api.errors import (
    AlreadyExistsException,
    ConflictException,
    ConnectException,
    NotFoundException,
)
from lambda_connect.runtime.config_providers import reference_errors, resolve_config
from lambda_connect.runtime.connector_config import base_definition
from lambda_connect.runtime.registry import Registry, UnknownPluginError, kinds_of
from lambda_connect.runtime.secrets import SecretStore, is_client_password_key, password_keys
from lambda_connect.runtime.sink_offsets import SinkOffsets, check_idle, groups_by_topic, sink_offset_entry
from lambda_connect.runtime.validation import config_key_info, effective_definition, validate_connector_config
from lambda_connect.state.base import ConnectorEntry, StateStore, StatusEntry, normalize_target_state, partition_key

from . import bodies, entities
from .errors import STALE_CONFIG_MESSAGE, BadRequest, RestError, ServerError
from .loggers import LoggerLevels
from .status import connector_state, task_states

__all__ = ["ConnectService"]

log = logging.getLogger(__name__)

_NOT_STOPPED = (
    "Offsets can be changed only while the connector is STOPPED: stop it first with "
    "'PUT /connectors/{name}/stop'"
)
_HEALTHY = "The worker has started and is serving requests."
_UNHEALTHY = "Worker was unable to handle this request and may be unable to handle other requests"
_SECRET_HINTS = ("password", "secret", "token", "credential")
#: Seconds a create waits for the sink's target to say whether it holds an earlier connector's
#: positions; a slower (or unreachable) target costs the create no more than this.
TARGET_CHECK_TIMEOUT_S = 3.0
#: The response header of a create that has something to warn about (Kafka's body has no field for it).
WARNING_HEADER = "X-Lambda-Connect-Warning"


def _looks_secret(key: str) -> bool:
    """Masked in messages even without a definition to ask (no connector class yet):
    Kafka's client PASSWORD keys under any prefix, and names that say what they hold."""
    return is_client_password_key(key) or any(h in key.lower() for h in _SECRET_HINTS)


def _java_map(config: Mapping[str, str]) -> str:
    """Kafka quotes the config as Java's ``Map.toString``; secret values are masked because
    that message is echoed to clients and logs."""
    shown = (f"{k}={'[hidden]' if _looks_secret(k) else v}" for k, v in config.items())
    return "{" + ", ".join(shown) + "}"


def _with_reference_errors(infos: dict[str, Any], errors: Mapping[str, list[str]]) -> dict[str, Any]:
    """ConfigInfos with the refused config-provider references added to their keys' errors."""
    if not errors:
        return infos
    configs = []
    pending = dict(errors)
    for item in infos["configs"]:
        value = item.get("value") or {}
        extra = pending.pop(value.get("name"), None)
        if extra:
            item = {**item, "value": {**value, "errors": [*(value.get("errors") or []), *extra]}}
        configs.append(item)
    configs += [
        {"definition": None,
         "value": {"name": k, "value": None, "recommended_values": [], "errors": list(v), "visible": True}}
        for k, v in pending.items()
    ]
    count = sum(len((c.get("value") or {}).get("errors") or []) for c in configs)
    return {**infos, "error_count": count, "configs": configs}


def _tasks_max(config: Mapping[str, str]) -> int:
    try:
        return max(1, int(config.get("tasks.max", "1")))
    except ValueError:
        return 1


def _strip_connector(name: str) -> str:
    return name[: -len("Connector")] if name.endswith("Connector") else name


def inherited_positions_message(name: str, where: str, marks: Mapping[tuple[str, int], int]) -> str:
    """The create-time warning of a sink whose target holds an earlier connector's positions."""
    shown = sorted(marks.items())[:5]
    listed = ", ".join(f"{t}-{p} at offset {o}" for (t, p), o in shown)
    if len(marks) > len(shown):
        listed += f" and {len(marks) - len(shown)} more partition(s)"
    return (f"Connector {name} was created, but its target already holds sink positions under that name ({where}: "
            f"{listed}), left by an earlier connector of the same name: records at or below those offsets will be "
            f"skipped as already written. If it should start over: PUT /connectors/{name}/stop, then DELETE "
            f"/connectors/{name}/offsets, then PUT /connectors/{name}/resume (or create it with "
            '"initial_state": "STOPPED" and reset the offsets before its first run).')


class ConnectService:
    """Kafka Connect's REST operations over a :class:`StateStore`."""

    def __init__(
        self,
        store: StateStore,
        registry: Registry | None,
        secrets: SecretStore | None,
        sink_offsets: SinkOffsets | None,
        on_change: Callable[[str], None] | None = None,
        worker_id: str = "lambda-connect",
        *,
        kafka_cluster_id: str | Callable[[], str] = "",
        commit: str = "",
        topic_tracking: bool = True,
        topic_tracking_reset: bool = True,
        server_extra: Mapping[str, str] | None = None,
    ) -> None:
        """``secrets`` None stores PASSWORD values as given (only for tests that need no secrets);
        ``sink_offsets`` None makes the sink offsets endpoints answer 500 (no cluster configured).
        ``topic_tracking``/``topic_tracking_reset`` are Kafka's worker settings
        ``topic.tracking.enable``/``topic.tracking.allow.reset``: off, the topics endpoints answer 403."""
        self.store = store
        self.registry = registry or Registry.default()
        self.secrets = secrets
        self.sink_offsets = sink_offsets
        self.on_change = on_change
        self.worker_id = worker_id
        self._cluster_id = kafka_cluster_id
        self._commit = commit
        self.topic_tracking = topic_tracking
        self.topic_tracking_reset = topic_tracking_reset
        self.loggers = LoggerLevels()
        #: Fields ``GET /`` adds to Kafka's three (the local runtime says where its topics live).
        self.server_extra = dict(server_extra or {})
        #: Warnings of the last create per connector, for the router's response header.
        self._create_warnings: dict[str, str] = {}

    # --- helpers ------------------------------------------------------------------------------
    def _changed(self, name: str) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(name)
        except Exception:  # the write has succeeded; a failed nudge only delays reconciliation
            log.exception("on_change hook failed for connector %s", name)

    def _entry(self, name: str, message: str | None = None) -> ConnectorEntry:
        entry = self.store.get_connector(name)
        if entry is None:
            raise NotFoundException(message or f"Connector {name} not found")
        return entry

    def _connector_class(self, config: Mapping[str, str]) -> type[Any]:
        connector_class = str(config.get("connector.class") or "").strip()
        if not connector_class:
            raise BadRequest(f"Connector config {_java_map(config)} contains no connector type")
        try:
            return self.registry.resolve(connector_class, {"source", "sink"})
        except UnknownPluginError as e:
            raise ServerError(str(e)) from e

    def _kind(self, config: Mapping[str, str]) -> str:
        try:
            cls = self.registry.resolve(str(config.get("connector.class") or ""), {"source", "sink"})
        except ConnectException:
            return "unknown"
        kinds = kinds_of(cls)
        return "source" if "source" in kinds else "sink" if "sink" in kinds else "unknown"

    def _task_configs(self, entry: ConnectorEntry, kind: str) -> list[dict[str, str]]:
        """Sink: ``tasks.max`` copies of the config (Kafka's usual shape). Source: what the
        source runtime generated and stored. A stopped connector has none."""
        if entry.target_state == "STOPPED":
            return []
        if kind == "sink":
            if entry.target_state == "PAUSED" and self.store.get_task_configs(entry.name) is None:
                return []  # created PAUSED (KIP-980) or paused after a stop: no tasks until resumed
            return [dict(entry.config) for _ in range(_tasks_max(entry.config))]
        stored = self.store.get_task_configs(entry.name)
        return [dict(c) for c in stored.configs] if stored else []

    def _info(self, entry: ConnectorEntry) -> dict[str, Any]:
        kind = self._kind(entry.config)
        return entities.connector_info(entry.name, entry.config, len(self._task_configs(entry, kind)), kind)

    def _publish_task_configs(self, entry: ConnectorEntry) -> None:
        """Keep the stored task configs in step with a sink connector's config and state."""
        if entry.target_state == "STOPPED":
            self.store.clear_task_configs(entry.name)
        elif self._kind(entry.config) == "sink":
            configs = self._task_configs(entry, "sink")
            if configs:
                self.store.put_task_configs(entry.name, entry.version, configs)

    def _prepare(
        self, name: str, config: dict[str, str], null_keys: Sequence[str] = ()
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Validate like Kafka's create/update (its own rules first, so its messages win; then
        the names AWS resources cannot carry), then swap PASSWORD literals for secret
        references. Returns (config to store, secrets to save once the write has won)."""
        self._connector_class(config)
        infos = bodies.null_value_infos(validate_connector_config(config, self.registry), list(null_keys))
        infos = _with_reference_errors(infos, reference_errors(config, name))
        if infos["error_count"]:
            lines = [m for c in infos["configs"] for m in c["value"]["errors"]]
            raise BadRequest(
                f"The connector config has {len(lines)} error(s):\n"
                + "\n".join(lines)
                + "\nYou can also find the above list of errors at the endpoint "
                f"`/connector-plugins/{config['connector.class']}/config/validate`"
            )
        bodies.check_connector_name(name)
        if self.secrets is None:
            return config, {}
        keys = effective_definition(config, self.registry).keys
        pending = {k: config[k] for k in password_keys(keys, config)}
        stored = {**config, **{k: self.secrets.reference(name, k) for k in pending}}
        return stored, pending

    def _save_secrets(self, name: str, pending: Mapping[str, str]) -> None:
        if self.secrets is not None:
            for key, value in pending.items():
                self.secrets.store(name, key, value)

    def _create(
        self, name: str, config: dict[str, str], target_state: str, null_keys: Sequence[str]
    ) -> dict[str, Any]:
        stored, pending = self._prepare(name, config, null_keys)
        try:
            entry = self.store.create_connector(name, stored, target_state)
        except AlreadyExistsException as e:
            raise RestError(409, f"Connector {name} already exists") from e
        self._save_secrets(name, pending)
        self._publish_task_configs(entry)
        self._changed(name)
        warning = self._inherited_positions(name, config)
        if warning:
            log.warning("%s", warning)
            self._create_warnings[name] = warning
        return self._info(entry)

    def take_create_warning(self, name: str) -> str | None:
        """The warning of ``name``'s create, once (the router puts it in a response header)."""
        return self._create_warnings.pop(name, None)

    def _inherited_positions(self, name: str, config: Mapping[str, str]) -> str | None:
        """A warning when a new sink connector's target already holds positions under its name
        (an earlier connector of that name wrote them): the new one would skip records at or
        below them as already written. Bounded by ``TARGET_CHECK_TIMEOUT_S``; a target that is
        unreachable or slow only costs a DEBUG line, never the create."""
        try:
            cls = self._connector_class(config)
            if "sink" not in kinds_of(cls) or getattr(cls, "stored_offsets", None) is None:
                return None
            props = resolve_config(dict(config))
        except Exception as e:
            log.debug("connector %s: not checking its target for earlier positions: %s", name, e)
            return None
        props.setdefault("name", name)
        found: list[Any] = []

        def read() -> None:
            try:
                found.append(cls().stored_offsets(props))
            except Exception as e:  # an unreachable target must not fail (or slow) the create
                log.debug("connector %s: cannot read the positions its target holds: %s", name, e)

        reader = threading.Thread(target=read, name=f"positions-check-{name}", daemon=True)
        reader.start()
        reader.join(TARGET_CHECK_TIMEOUT_S)
        if reader.is_alive():
            log.debug("connector %s: its target did not say within %.0f s whether it holds earlier positions",
                      name, TARGET_CHECK_TIMEOUT_S)
            return None
        stored = found[0] if found else None
        if not stored or not stored[1]:
            return None
        return inherited_positions_message(name, stored[0], stored[1])

    def _replace(self, entry: ConnectorEntry, config: dict[str, str], null_keys: Sequence[str]) -> dict[str, Any]:
        stored, pending = self._prepare(entry.name, config, null_keys)
        try:
            updated = self.store.update_connector(entry.name, stored, expected_version=entry.version)
        except (ConflictException, NotFoundException) as e:
            raise RestError(409, STALE_CONFIG_MESSAGE) from e
        self._save_secrets(entry.name, pending)
        self._publish_task_configs(updated)
        self._changed(entry.name)
        return self._info(updated)

    # --- worker ---------------------------------------------------------------------------------
    def server_info(self) -> dict[str, str]:
        cluster = self._cluster_id
        if callable(cluster):
            try:
                cluster = cluster()
            except Exception as e:  # the API stays usable without the cluster
                log.warning("Kafka cluster id unavailable: %s", e)
                cluster = ""
        return {**entities.server_info(lambda_connect.__version__, self._commit, cluster), **self.server_extra}

    def health(self) -> tuple[int, dict[str, str]]:
        try:
            self.store.list_connectors()
        except Exception as e:
            return 500, entities.worker_status("unhealthy", f"{_UNHEALTHY}: the state table is unreachable ({e})")
        return 200, entities.worker_status("healthy", _HEALTHY)

    # --- connectors -----------------------------------------------------------------------------
    def list_connectors(self, expand: list[str]) -> list[str] | dict[str, Any]:
        """Any ``expand`` parameter makes the answer an object (Kafka checks for the key, then
        ignores values it does not know, so ``?expand=x`` gives ``{name: {}}``)."""
        names = self.store.list_connectors()
        if not expand:
            return names
        wanted = [e for e in ("status", "info") if e in expand]
        out: dict[str, Any] = {}
        for name in names:
            entry = self.store.get_connector(name)
            if entry is None:  # deleted while listing: omitted, as Kafka does
                continue
            item: dict[str, Any] = {}
            if "status" in wanted:
                item["status"] = self._status(entry)
            if "info" in wanted:
                item["info"] = self._info(entry)
            out[name] = item
        return out

    def create_connector(self, body: Any) -> tuple[str, dict[str, Any]]:
        """POST /connectors → (name, ConnectorInfo)."""
        if not isinstance(body, dict):
            raise BadRequest(f"Request body must be a JSON object, got {type(body).__name__}")
        unknown = sorted(set(body) - {"name", "config", "initial_state"})
        if unknown:
            known = '"name", "config", "initial_state"'
            raise BadRequest(f'Unrecognized field "{unknown[0]}" (known properties: {known})')
        name = (bodies.scalar_string(body.get("name"), "Connector name") or "").strip()
        if body.get("config") is None:
            raise BadRequest("Connector config must be provided in the 'config' field")
        config, nulls = bodies.config_with_nulls(body["config"])
        if "name" in config and config["name"] != name:
            raise BadRequest(
                f"Connector name configuration ({config['name']}) doesn't match connector name in the URL ({name})"
            )
        config["name"] = name
        initial = body.get("initial_state")
        try:
            target = "RUNNING" if initial is None else normalize_target_state(str(initial))
        except ValueError as e:
            raise BadRequest(f"Invalid initial_state {initial!r}: expected RUNNING, PAUSED or STOPPED") from e
        return name, self._create(name, config, target, nulls)

    def get_connector(self, name: str) -> dict[str, Any]:
        return self._info(self._entry(name))

    def get_config(self, name: str) -> dict[str, str]:
        return dict(self._entry(name).config)

    def put_config(self, name: str, body: Any) -> tuple[bool, dict[str, Any]]:
        """PUT /connectors/{c}/config → (created, ConnectorInfo)."""
        config, nulls = bodies.config_with_nulls(body)
        if "name" in config and config["name"] != name:
            raise BadRequest(
                f"Connector name configuration ({config['name']}) doesn't match connector name in the URL ({name})"
            )
        config["name"] = name
        nulls = [k for k in nulls if k != "name"]
        entry = self.store.get_connector(name)
        if entry is None:
            return True, self._create(name, config, "RUNNING", nulls)
        return False, self._replace(entry, config, nulls)

    def patch_config(self, name: str, body: Any) -> dict[str, Any]:
        patch = bodies.patch_map(body)  # the body is bound before the resource runs: 500 beats 404
        entry = self._entry(name)
        if patch.get("name") is not None and patch["name"] != name:
            raise BadRequest(
                f"Connector name configuration ({patch['name']}) doesn't match connector name in the URL ({name})"
            )
        merged = dict(entry.config)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        merged["name"] = name
        return self._replace(entry, merged, [])

    def delete(self, name: str) -> None:
        entry = self.store.get_connector(name)
        if not self.store.delete_connector(name):
            raise NotFoundException(f"Connector {name} not found")
        if self.secrets is not None:
            self.secrets.delete(name, list(entry.config) if entry is not None else [])
        self._changed(name)

    # --- status, tasks, lifecycle ---------------------------------------------------------------
    def _status(self, entry: ConnectorEntry) -> dict[str, Any]:
        kind = self._kind(entry.config)
        state, worker, trace = connector_state(entry.target_state, self.store.get_connector_status(entry.name))
        count = len(self._task_configs(entry, kind))
        tasks = task_states(entry.target_state, state, kind, count, self.store.get_task_statuses(entry.name))
        info = entities.connector_state_info(
            entry.name,
            entities.state_entry(state, worker or self.worker_id, trace),
            [entities.task_state(t, s, w or self.worker_id, tr) for t, s, w, tr in tasks],
            kind,
        )
        metrics = getattr(self, "metrics", None)  # set by rest.metrics.attach where the runtime keeps figures
        if metrics is not None:  # an extension key: Kafka Connect clients ignore it
            info["lambda_connect"] = metrics.status_extension(entry.name, kind)
        return info

    def status(self, name: str) -> dict[str, Any]:
        return self._status(self._entry(name, f"No status found for connector {name}"))

    def tasks_config(self, name: str) -> dict[str, dict[str, str]]:
        entry = self._entry(name)
        return entities.tasks_config(name, self._task_configs(entry, self._kind(entry.config)))

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        entry = self.store.get_connector(name)
        if entry is not None:
            for item in self._status(entry)["tasks"]:
                if item["id"] == task:
                    return item
        raise NotFoundException(f"No status found for task {name}-{task}")

    def tasks(self, name: str) -> list[dict[str, Any]]:
        entry = self._entry(name)
        configs = self._task_configs(entry, self._kind(entry.config))
        return [entities.task_info(name, i, c) for i, c in enumerate(configs)]

    def restart(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any] | None:
        """KIP-745: returns None for the plain restart (204), else the snapshot (202)."""
        entry = self._entry(name, f"Unknown connector: {name}")
        now = time.time()
        restarting = StatusEntry("RESTARTING", self.worker_id, None, now)
        if not include_tasks and not only_failed:
            self.store.put_connector_status(name, restarting)
            self._changed(name)
            return None
        snapshot = self._status(entry)
        if not only_failed or snapshot["connector"]["state"] == "FAILED":
            self.store.put_connector_status(name, restarting)
            snapshot["connector"] = entities.state_entry("RESTARTING", self.worker_id, None)
        if include_tasks:
            for i, task in enumerate(snapshot["tasks"]):
                if not only_failed or task["state"] == "FAILED":
                    self.store.put_task_status(name, task["id"], restarting)
                    snapshot["tasks"][i] = entities.task_state(task["id"], "RESTARTING", self.worker_id, None)
        self._changed(name)
        return snapshot

    def restart_task(self, name: str, task: int) -> None:
        entry = self._entry(name, f"Unknown connector: {name}")
        if not 0 <= task < len(self._task_configs(entry, self._kind(entry.config))):
            raise NotFoundException(f"Unknown task: {name}-{task}")
        self.store.put_task_status(name, task, StatusEntry("RESTARTING", self.worker_id, None, time.time()))
        self._changed(name)

    def _set_target(self, name: str, target: str) -> None:
        entry = self._entry(name, f"Unknown connector {name}")
        if entry.target_state != target:
            entry = self.store.set_target_state(name, target)
        if target == "STOPPED":
            self.store.clear_task_statuses(name)
        self._publish_task_configs(entry)
        self._changed(name)

    def pause(self, name: str) -> None:
        self._set_target(name, "PAUSED")

    def resume(self, name: str) -> None:
        self._set_target(name, "RUNNING")

    def stop(self, name: str) -> None:
        self._set_target(name, "STOPPED")

    # --- topics ---------------------------------------------------------------------------------
    def topics(self, name: str) -> dict[str, Any]:
        """Unknown connectors have no active topics (200, not 404), as in Kafka."""
        if not self.topic_tracking:
            raise RestError(403, "Topic tracking is disabled.")
        return entities.active_topics(name, self.store.get_active_topics(name))

    def reset_topics(self, name: str) -> None:
        """Kafka resets whatever is recorded under the name, known connector or not (202)."""
        if not self.topic_tracking:
            raise RestError(403, "Topic tracking is disabled.")
        if not self.topic_tracking_reset:
            raise RestError(403, "Topic tracking reset is disabled.")
        if self.store.get_active_topics(name):
            self.store.reset_active_topics(name)
            self._changed(name)

    # --- offsets (KIP-875) ----------------------------------------------------------------------
    def _require_sink_offsets(self) -> SinkOffsets:
        if self.sink_offsets is None:
            raise ServerError("Sink connector offsets are unavailable: no Kafka cluster is configured for the API")
        return self.sink_offsets

    def get_offsets(self, name: str) -> dict[str, Any]:
        entry = self._entry(name)
        kind = self._kind(entry.config)
        if kind == "sink":
            groups = groups_by_topic(name, self.store.get_resources(name))
            found = self._require_sink_offsets().get(name, groups)
            return entities.connector_offsets(sink_offset_entry(t, p, o) for t, p, o in found)
        return entities.connector_offsets(self.store.get_offsets(name))

    def _stopped_entry(self, name: str) -> ConnectorEntry:
        entry = self._entry(name)
        if entry.target_state != "STOPPED":
            raise BadRequest(_NOT_STOPPED.format(name=name))
        return entry

    def _hook(self, entry: ConnectorEntry, offsets: Mapping[str, Any]) -> bool:
        """The connector's ``alter_offsets`` (KIP-875): True means it keeps no offsets of its own.
        Partitions are given as their canonical JSON (dicts cannot be mapping keys)."""
        cls = self._connector_class(entry.config)
        hook = getattr(cls, "alter_offsets", None)
        if hook is None:
            return False
        try:
            return bool(hook(cls(), dict(entry.config), offsets))
        except ConnectException as e:
            raise BadRequest(f"Failed to alter the offsets of connector {entry.name}: {e}") from e

    @staticmethod
    def _done(verb: str, managed_by_connector: bool) -> dict[str, str]:
        if managed_by_connector:
            return entities.message(f"The offsets for this connector have been {verb} successfully")
        return entities.message(
            f"The offsets lambda-connect keeps for this connector have been {verb} successfully. Positions the "
            f"connector keeps elsewhere on its own (outside the state table and its target) are not {verb}: "
            "change them where it keeps them."
        )

    def _sink_hook(self, entry: ConnectorEntry, verb: str, call: Callable[[Any, dict[str, str]], Any]) -> bool:
        """The sink connector's KIP-875 hook (``alter_offsets``/``reset_offsets``): it moves the
        positions the connector keeps in its target. Runs before the consumer groups change,
        so a failure leaves everything as it was."""
        cls = self._connector_class(entry.config)
        try:
            props = resolve_config(dict(entry.config))
        except ConnectException as e:
            raise BadRequest(f"Failed to {verb} the offsets of connector {entry.name}: {e}") from e
        props.setdefault("name", entry.name)
        try:
            return bool(call(cls(), props))
        except ConnectException as e:
            raise ServerError(
                f"Failed to {verb} the offsets of connector {entry.name}: the positions it keeps in its target "
                f"could not be moved, so its consumer group offsets were left as they were: {e}"
            ) from e

    def _after_hook(self, entry: ConnectorEntry, verb: str, moved: bool, step: Callable[[], None]) -> None:
        """The consumer-group half; says so when the target's positions already moved."""
        try:
            step()
        except ConnectException as e:
            if not moved:
                raise
            raise ServerError(
                f"Failed to {verb} the offsets of connector {entry.name}: the positions it keeps in its target "
                f"were moved, but its consumer group offsets were not: {e}. The connector stays STOPPED; "
                "repeat the request to finish it."
            ) from e

    def alter_offsets(self, name: str, body: Any) -> dict[str, str]:
        items = bodies.offsets_entries(body)
        entry = self._stopped_entry(name)
        if self._kind(entry.config) == "sink":
            wanted = bodies.sink_offsets_body(items)
            sink = self._require_sink_offsets()
            groups = groups_by_topic(name, self.store.get_resources(name))
            positions = {(t, p): o for t, p, o in wanted}
            check_idle(sink, name, groups)
            hooked = self._sink_hook(entry, "alter", lambda c, props: c.alter_offsets(props, positions))
            self._after_hook(entry, "alter", hooked, lambda: sink.alter(name, groups, wanted))
        else:
            entries = bodies.source_offsets_body(items)
            hooked = self._hook(entry, {partition_key(p): o for p, o in entries})
            self.store.commit_offsets(name, entries)
        self._changed(name)
        return self._done("altered", hooked)

    def reset_offsets(self, name: str) -> dict[str, str]:
        entry = self._stopped_entry(name)
        if self._kind(entry.config) == "sink":
            groups = groups_by_topic(name, self.store.get_resources(name))
            sink = self._require_sink_offsets()
            known = [(t, p) for t, p, _ in sink.get(name, groups)]
            check_idle(sink, name, groups)
            hooked = self._sink_hook(entry, "reset", lambda c, props: c.reset_offsets(props, known))
            self._after_hook(entry, "reset", hooked, lambda: sink.reset(name, groups))
        else:
            hooked = self._hook(entry, {partition_key(p): None for p, _ in self.store.get_offsets(name)})
            self.store.delete_offsets(name)
        self._changed(name)
        return self._done("reset", hooked)

    # --- plugins --------------------------------------------------------------------------------
    def plugins(self, connectors_only: bool) -> list[dict[str, str]]:
        kinds = {"source", "sink"} if connectors_only else None
        seen: set[tuple[str, str]] = set()
        out = []
        for d in self.registry.descriptors():
            if kinds is not None and d.kind not in kinds:
                continue
            info = d.plugin_info()
            if (info["class"], info["type"]) not in seen:
                seen.add((info["class"], info["type"]))
                out.append(info)
        return out

    def plugin_config(self, plugin: str) -> list[dict[str, Any]]:
        try:
            cls = self.registry.resolve(plugin)
        except UnknownPluginError as e:
            hint = f" Closest known names: {', '.join(e.suggestions)}" if e.suggestions else ""
            raise NotFoundException(f"Unknown plugin {plugin}.{hint}") from e
        kinds = kinds_of(cls)
        if not kinds:
            raise BadRequest(f"Plugin {plugin} is not a connector, converter, transformation or predicate")
        definition = cls.config_def
        if kinds & {"source", "sink"}:
            definition = base_definition(kinds) + definition
        return [config_key_info(k) for k in definition]

    def validate(self, plugin: str, body: Any) -> dict[str, Any]:
        config, nulls = bodies.config_with_nulls(body)
        included = str(config.get("connector.class") or "").strip()
        if not included:
            raise ServerError(f"Connector config {_java_map(config)} contains no connector type")
        same = _strip_connector(included).endswith(_strip_connector(plugin))
        if not same:
            canonical = self.registry.canonical
            same = canonical(included) is not None and canonical(included) == canonical(plugin)
        if not same:
            raise BadRequest(f"Included connector type {included} does not match request type {plugin}")
        self._connector_class(config)
        infos = bodies.null_value_infos(validate_connector_config(config, self.registry), nulls)
        return _with_reference_errors(infos, reference_errors(config))
