"""State table on DynamoDB (``dynamodb://TABLE``): the store every Lambda function shares in AWS.

Single-table design. Both key attributes are strings; their names (``pk``/``sk`` by default) are
constructor parameters so the store can live in an existing table.

======================  ============================  ============================================
``pk``                  ``sk``                        attributes
======================  ============================  ============================================
``connector#<name>``    ``config``                    name, config (M of S), version, target_state,
                                                      created_at, updated_at
``connector#<name>``    ``taskconfigs``               config_version, configs (L of M of S)
``connector#<name>``    ``status``                    state, worker_id, trace?, updated_at
``connector#<name>``    ``task#<n>``                  task, state, worker_id, trace?, updated_at
``connector#<name>``    ``offset#<partition-json>``   partition (canonical JSON), offset (JSON);
                                                      partitions whose JSON would exceed the sort-key
                                                      limit use ``offset#sha256:<hex>`` instead
``connector#<name>``    ``lease#<n>``                 task, owner, epoch, expires_at
``connector#<name>``    ``resources``                 resources (JSON), alias?
``connector#<name>``    ``topics``                    topics (SS)
``alias#<alias>``       ``alias``                     connector — the index behind connector_for_alias
``connectors``          ``index``                     names (SS) — the listing behind list_connectors
======================  ============================  ============================================

The listing is one strongly consistent item rather than a GSI, so a connector shows up in
``GET /connectors`` the moment its ``POST`` returns (GSIs are eventually consistent); it changes
only on create and delete, in the same transaction as the config item. Every compare-and-set is
a ``ConditionExpression``; changes spanning items (create, delete, fenced offset commits, alias
moves) use ``TransactWriteItems``. A fenced commit of more than 99 partitions is written in
chunks of 99, each fenced on its own (DynamoDB caps a transaction at 100 items).

The table stream (``NEW_AND_OLD_IMAGES``, see :func:`create_table`) feeds the reconciler.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..api.errors import AlreadyExistsException, ConflictException, NotFoundException
from .base import (
    ConnectorEntry,
    Lease,
    StatusEntry,
    TaskConfigs,
    check_config,
    dedupe_offsets,
    normalize_target_state,
    now,
    partition_digest,
    partition_key,
    require_task,
    version_conflict,
)

__all__ = ["DynamoDBStateStore", "create_table"]

_LISTING = ("connectors", "index")
_MAX_SORT_KEY_BYTES = 1024
_TRANSACTION_ITEMS = 100
_ATTEMPTS = 50

Item = dict[str, dict[str, Any]]


def create_table(client: Any, name: str, *, partition_key_attr: str = "pk", sort_key_attr: str = "sk") -> str:
    """Create the state table (on-demand, stream with old and new images) and wait until it is
    active; returns the stream ARN. For tests and for deployments not using the SAM template."""
    response = client.create_table(
        TableName=name,
        AttributeDefinitions=[
            {"AttributeName": partition_key_attr, "AttributeType": "S"},
            {"AttributeName": sort_key_attr, "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": partition_key_attr, "KeyType": "HASH"},
            {"AttributeName": sort_key_attr, "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    client.get_waiter("table_exists").wait(TableName=name)
    return response["TableDescription"].get("LatestStreamArn", "")


class _Cancelled(Exception):
    """A transaction was cancelled by a failed condition; ``codes`` has one entry per item."""

    def __init__(self, codes: list[str]) -> None:
        super().__init__(codes)
        self.codes = codes


class DynamoDBStateStore:
    """A :class:`~lambda_connect.state.base.StateStore` in one DynamoDB table.

    ``client`` is a boto3 DynamoDB client; without one the store builds its own (from
    ``region_name``/``endpoint_url`` or the usual AWS environment), so tests inject moto's.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        partition_key_attr: str = "pk",
        sort_key_attr: str = "sk",
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if client is None:
            try:
                import boto3
            except ImportError as e:  # pragma: no cover - exercised only without the extra
                raise ImportError("The DynamoDB state store needs boto3: pip install 'lambda-connect[aws]'") from e
            client = boto3.client("dynamodb", region_name=region_name, endpoint_url=endpoint_url)
        self.table_name = table_name
        self._client = client
        self._pk, self._sk = partition_key_attr, sort_key_attr

    @classmethod
    def from_url(cls, url: str) -> DynamoDBStateStore:
        """``dynamodb://TABLE[?region=…&endpoint_url=…]`` — the query names a region or DynamoDB Local."""
        parts = urlsplit(url)
        table = (parts.netloc + parts.path).strip("/")
        if not table:
            raise ValueError(f"State URL {url!r} names no table: expected dynamodb://TABLE")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(table, region_name=query.get("region"), endpoint_url=query.get("endpoint_url"))

    # -- plumbing ----------------------------------------------------------------------------

    def _key(self, pk: str, sk: str) -> Item:
        return {self._pk: {"S": pk}, self._sk: {"S": sk}}

    def _ckey(self, name: str, sk: str) -> Item:
        return self._key(f"connector#{name}", sk)

    def _absent(self) -> dict[str, Any]:
        """Condition fragment: the item must not exist yet."""
        return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": self._pk}}

    def _get(self, key: Item) -> Item | None:
        return self._client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")

    def _query(self, name: str, prefix: str) -> Iterator[Item]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": self._pk},
            "ExpressionAttributeValues": {":pk": {"S": f"connector#{name}"}},
            "ConsistentRead": True,
        }
        if prefix:  # begins_with refuses an empty prefix
            kwargs["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
            kwargs["ExpressionAttributeNames"]["#sk"] = self._sk
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": prefix}
        while True:
            page = self._client.query(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete_items(self, keys: list[Item]) -> None:
        """Batch-delete, re-sending what DynamoDB reports as unprocessed (throttling)."""
        for start in range(0, len(keys), 25):
            requests = [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]
            for attempt in range(_ATTEMPTS):
                if not requests:
                    break
                done = self._client.batch_write_item(RequestItems={self.table_name: requests})
                requests = done.get("UnprocessedItems", {}).get(self.table_name, [])
                if requests:
                    _backoff(attempt)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """Write ``items`` atomically; raise :class:`_Cancelled` when a condition fails. A
        cancellation caused only by a concurrent transaction on the same items is retried."""
        for item in items:
            next(iter(item.values()))["TableName"] = self.table_name
        for attempt in range(_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except self._client.exceptions.TransactionCanceledException as e:
                codes = [r.get("Code", "None") for r in e.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in codes or attempt == _ATTEMPTS - 1:
                    raise _Cancelled(codes) from e
            _backoff(attempt)

    def _conditional(self, call: str, **kwargs: Any) -> Any:
        """Run a single-item write; ``None`` when its condition failed."""
        try:
            return getattr(self._client, call)(TableName=self.table_name, **kwargs)
        except self._client.exceptions.ConditionalCheckFailedException:
            return None

    # -- connector configs -------------------------------------------------------------------

    def _listing_update(self, action: str, name: str) -> dict[str, Any]:
        return {
            "Update": {
                "Key": self._key(*_LISTING),
                "UpdateExpression": f"{action} #names :n",
                "ExpressionAttributeNames": {"#names": "names"},
                "ExpressionAttributeValues": {":n": {"SS": [name]}},
            }
        }

    def create_connector(self, name: str, config: Mapping[str, str], target_state: str = "RUNNING") -> ConnectorEntry:
        config, target_state = check_config(config), normalize_target_state(target_state)
        ts = now()
        entry = ConnectorEntry(name, config, 1, target_state, ts, ts)
        item = {
            **self._ckey(name, "config"),
            "name": {"S": name},
            "config": _map(config),
            "version": _n(1),
            "target_state": {"S": target_state},
            "created_at": _n(ts),
            "updated_at": _n(ts),
        }
        put = {
            "Put": {
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": self._pk},
            }
        }
        try:
            self._transact([put, self._listing_update("ADD", name)])
        except _Cancelled:
            raise AlreadyExistsException(f"Connector {name} already exists") from None
        return entry

    def get_connector(self, name: str) -> ConnectorEntry | None:
        item = self._get(self._ckey(name, "config"))
        return None if item is None else _entry(item)

    def list_connectors(self) -> list[str]:
        item = self._get(self._key(*_LISTING))
        return sorted(item["names"]["SS"]) if item and "names" in item else []

    def _change(self, name: str, expected_version: int | None, field: str, value: dict[str, Any]) -> ConnectorEntry:
        for attempt in range(_ATTEMPTS):
            item = self._get(self._ckey(name, "config"))
            if item is None:
                raise NotFoundException(f"Connector {name} not found")
            seen = int(item["version"]["N"])
            if expected_version is not None and seen != expected_version:
                raise version_conflict(name, expected_version, seen)
            done = self._conditional(
                "update_item",
                Key=self._ckey(name, "config"),
                UpdateExpression="SET #version = :next, #updated = :ts, #field = :value",
                ConditionExpression="#version = :seen",
                ExpressionAttributeNames={"#version": "version", "#updated": "updated_at", "#field": field},
                ExpressionAttributeValues={":next": _n(seen + 1), ":ts": _n(now()), ":value": value, ":seen": _n(seen)},
                ReturnValues="ALL_NEW",
            )
            if done is not None:
                return _entry(done["Attributes"])
            if expected_version is not None:
                raise version_conflict(name, expected_version, None)
            _backoff(attempt)
        raise ConflictException(f"Connector {name} stayed contended; giving up after repeated retries")

    def update_connector(
        self, name: str, config: Mapping[str, str], *, expected_version: int | None = None
    ) -> ConnectorEntry:
        return self._change(name, expected_version, "config", _map(check_config(config)))

    def set_target_state(self, name: str, target_state: str, *, expected_version: int | None = None) -> ConnectorEntry:
        return self._change(name, expected_version, "target_state", {"S": normalize_target_state(target_state)})

    def delete_connector(self, name: str) -> bool:
        # Everything but the config goes first: while the config exists nobody can re-create the
        # connector, so this never deletes items of a new connector with the same name.
        resources = self._get(self._ckey(name, "resources"))
        if resources is not None and "alias" in resources:
            self._release_alias(resources["alias"]["S"], name)
        rest = [
            {self._pk: item[self._pk], self._sk: item[self._sk]}
            for item in self._query(name, "")
            if item[self._sk]["S"] != "config"
        ]
        self._delete_items(rest)
        delete = {
            "Delete": {
                "Key": self._ckey(name, "config"),
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": self._pk},
            }
        }
        try:
            self._transact([delete, self._listing_update("DELETE", name)])
        except _Cancelled:
            return False
        return True

    # -- task configs ------------------------------------------------------------------------

    def put_task_configs(self, name: str, config_version: int, configs: Iterable[Mapping[str, str]]) -> bool:
        configs = [check_config(c) for c in configs]
        names = {"#pk": self._pk}
        exists = {
            "ConditionCheck": {
                "Key": self._ckey(name, "config"),
                "ConditionExpression": "attribute_exists(#pk)",
                "ExpressionAttributeNames": names,
            }
        }
        put = {
            "Put": {
                "Item": {
                    **self._ckey(name, "taskconfigs"),
                    "config_version": _n(config_version),
                    "configs": {"L": [_map(c) for c in configs]},
                },
                "ConditionExpression": "attribute_not_exists(#pk) OR #cv < :cv",
                "ExpressionAttributeNames": {**names, "#cv": "config_version"},
                "ExpressionAttributeValues": {":cv": _n(config_version)},
            }
        }
        try:
            self._transact([exists, put])
        except _Cancelled as e:
            if e.codes and e.codes[0] == "ConditionalCheckFailed":
                raise NotFoundException(f"Connector {name} not found") from None
            return False
        return True

    def get_task_configs(self, name: str) -> TaskConfigs | None:
        item = self._get(self._ckey(name, "taskconfigs"))
        if item is None:
            return None
        configs = [_unmap(c) for c in item["configs"]["L"]]
        return TaskConfigs(int(item["config_version"]["N"]), configs)

    def clear_task_configs(self, name: str) -> None:
        self._client.delete_item(TableName=self.table_name, Key=self._ckey(name, "taskconfigs"))

    # -- statuses ----------------------------------------------------------------------------

    def _put_status(self, key: Item, status: StatusEntry, extra: Item) -> None:
        item = {
            **key,
            **extra,
            "state": {"S": status.state},
            "worker_id": {"S": status.worker_id},
            "updated_at": _n(status.updated_at),
        }
        if status.trace is not None:
            item["trace"] = {"S": status.trace}
        self._client.put_item(TableName=self.table_name, Item=item)

    def put_connector_status(self, name: str, status: StatusEntry) -> None:
        self._put_status(self._ckey(name, "status"), status, {})

    def put_task_status(self, name: str, task: int, status: StatusEntry) -> None:
        self._put_status(self._ckey(name, f"task#{int(task)}"), status, {"task": _n(int(task))})

    def get_connector_status(self, name: str) -> StatusEntry | None:
        item = self._get(self._ckey(name, "status"))
        return None if item is None else _status(item)

    def get_task_statuses(self, name: str) -> dict[int, StatusEntry]:
        found = {int(item["task"]["N"]): _status(item) for item in self._query(name, "task#")}
        return dict(sorted(found.items()))

    def clear_task_statuses(self, name: str) -> None:
        self._delete_items([{self._pk: i[self._pk], self._sk: i[self._sk]} for i in self._query(name, "task#")])

    # -- source offsets ----------------------------------------------------------------------

    @staticmethod
    def _offset_sk(key: str, partition: Mapping) -> str:
        sk = f"offset#{key}"
        return sk if len(sk.encode()) <= _MAX_SORT_KEY_BYTES else f"offset#sha256:{partition_digest(partition)}"

    def get_offsets(self, name: str) -> list[tuple[dict, dict]]:
        items = sorted(self._query(name, "offset#"), key=lambda i: i["partition"]["S"])
        return [(json.loads(i["partition"]["S"]), json.loads(i["offset"]["S"])) for i in items]

    def get_offset(self, name: str, partition: Mapping) -> dict | None:
        item = self._get(self._ckey(name, self._offset_sk(partition_key(partition), partition)))
        return None if item is None else json.loads(item["offset"]["S"])

    def commit_offsets(
        self,
        name: str,
        offsets: Iterable[tuple[Mapping, Mapping | None]],
        *,
        task: int | None = None,
        epoch: int | None = None,
    ) -> bool:
        writes: list[dict[str, Any]] = []
        for key, (partition, offset) in dedupe_offsets(offsets).items():
            item_key = self._ckey(name, self._offset_sk(key, partition))
            if offset is None:
                writes.append({"Delete": {"Key": item_key}})
            else:
                item = {**item_key, "partition": {"S": key}, "offset": {"S": json.dumps(offset)}}
                writes.append({"Put": {"Item": item}})
        fence: list[dict[str, Any]] = []
        if epoch is not None:
            fence = [
                {
                    "ConditionCheck": {
                        "Key": self._ckey(name, f"lease#{require_task(task)}"),
                        "ConditionExpression": "#epoch = :epoch",
                        "ExpressionAttributeNames": {"#epoch": "epoch"},
                        "ExpressionAttributeValues": {":epoch": _n(epoch)},
                    }
                }
            ]
            if not writes:
                lease = self.get_lease(name, require_task(task))
                return lease is not None and lease.epoch == epoch
        size = _TRANSACTION_ITEMS - len(fence)
        for start in range(0, len(writes), size):
            try:
                self._transact([*_fresh(fence), *writes[start : start + size]])
            except _Cancelled:
                return False
        return True

    def delete_offsets(self, name: str) -> None:
        self._delete_items([{self._pk: i[self._pk], self._sk: i[self._sk]} for i in self._query(name, "offset#")])

    # -- task leases -------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, task: int, owner: str, ttl_seconds: float, now: float | None = None
    ) -> Lease | None:
        at = _now() if now is None else now
        key = self._ckey(name, f"lease#{task}")
        for attempt in range(_ATTEMPTS):
            current = self.get_lease(name, task)
            if current is not None and current.owner != owner and current.expires_at > at:
                return None
            lease = Lease(name, task, owner, (current.epoch if current else 0) + 1, at + ttl_seconds)
            item = {
                **key,
                "task": _n(task),
                "owner": {"S": owner},
                "epoch": _n(lease.epoch),
                "expires_at": _n(lease.expires_at),
            }
            if current is None:
                condition = self._absent()
            else:
                condition = {
                    "ConditionExpression": "#epoch = :seen",
                    "ExpressionAttributeNames": {"#epoch": "epoch"},
                    "ExpressionAttributeValues": {":seen": _n(current.epoch)},
                }
            if self._conditional("put_item", Item=item, **condition) is not None:
                return lease
            _backoff(attempt)
        return None

    def _update_lease(self, lease: Lease, expires_at: float) -> bool:
        done = self._conditional(
            "update_item",
            Key=self._ckey(lease.connector, f"lease#{lease.task}"),
            UpdateExpression="SET #expires = :expires",
            ConditionExpression="#epoch = :epoch AND #owner = :owner",
            ExpressionAttributeNames={"#expires": "expires_at", "#epoch": "epoch", "#owner": "owner"},
            ExpressionAttributeValues={
                ":expires": _n(expires_at),
                ":epoch": _n(lease.epoch),
                ":owner": {"S": lease.owner},
            },
        )
        return done is not None

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        expires_at = _now() + ttl_seconds
        if not self._update_lease(lease, expires_at):
            return None
        return Lease(lease.connector, lease.task, lease.owner, lease.epoch, expires_at)

    def release_lease(self, lease: Lease) -> bool:
        return self._update_lease(lease, 0.0)

    def get_lease(self, name: str, task: int) -> Lease | None:
        item = self._get(self._ckey(name, f"lease#{task}"))
        if item is None:
            return None
        return Lease(name, task, item["owner"]["S"], int(item["epoch"]["N"]), float(item["expires_at"]["N"]))

    # -- platform resources ------------------------------------------------------------------

    def _alias_key(self, alias: str) -> Item:
        return self._key(f"alias#{alias}", "alias")

    def _release_alias(self, alias: str, name: str) -> None:
        self._conditional(
            "delete_item",
            Key=self._alias_key(alias),
            ConditionExpression="#connector = :name",
            ExpressionAttributeNames={"#connector": "connector"},
            ExpressionAttributeValues={":name": {"S": name}},
        )

    def put_resources(self, name: str, resources: Mapping) -> None:
        payload = json.dumps(dict(resources))
        alias = None if resources.get("alias") is None else str(resources["alias"])
        mine = {
            "ConditionExpression": "attribute_not_exists(#pk) OR #connector = :name",
            "ExpressionAttributeNames": {"#pk": self._pk, "#connector": "connector"},
            "ExpressionAttributeValues": {":name": {"S": name}},
        }
        for attempt in range(_ATTEMPTS):
            stored = self._get(self._ckey(name, "resources"))
            old_alias = stored["alias"]["S"] if stored and "alias" in stored else None
            item = {**self._ckey(name, "resources"), "resources": {"S": payload}}
            if alias is not None:
                item["alias"] = {"S": alias}
            if stored is None:
                unchanged = self._absent()
            else:
                unchanged = {
                    "ConditionExpression": "#res = :res",
                    "ExpressionAttributeNames": {"#res": "resources"},
                    "ExpressionAttributeValues": {":res": stored["resources"]},
                }
            items: list[dict[str, Any]] = [{"Put": {"Item": item, **unchanged}}]
            if alias is not None:
                alias_item = {**self._alias_key(alias), "connector": {"S": name}}
                items.append({"Put": {"Item": alias_item, **_fresh([mine])[0]}})
            if old_alias is not None and old_alias != alias:
                items.append({"Delete": {"Key": self._alias_key(old_alias), **_fresh([mine])[0]}})
            try:
                self._transact(items)
                return
            except _Cancelled:
                holder = None if alias is None else self.connector_for_alias(alias)
                if holder is not None and holder != name:
                    raise ConflictException(f"Alias {alias} already belongs to connector {holder}") from None
            _backoff(attempt)
        raise ConflictException(f"Resources of connector {name} stayed contended; giving up after repeated retries")

    def get_resources(self, name: str) -> dict:
        item = self._get(self._ckey(name, "resources"))
        return {} if item is None else json.loads(item["resources"]["S"])

    def connector_for_alias(self, alias: str) -> str | None:
        item = self._get(self._alias_key(alias))
        return None if item is None else item["connector"]["S"]

    # -- active topics -----------------------------------------------------------------------

    def add_active_topics(self, name: str, topics: Iterable[str]) -> None:
        topics = sorted(set(topics))
        if topics:
            self._client.update_item(
                TableName=self.table_name,
                Key=self._ckey(name, "topics"),
                UpdateExpression="ADD #topics :t",
                ExpressionAttributeNames={"#topics": "topics"},
                ExpressionAttributeValues={":t": {"SS": topics}},
            )

    def get_active_topics(self, name: str) -> set[str]:
        item = self._get(self._ckey(name, "topics"))
        return set(item["topics"]["SS"]) if item and "topics" in item else set()

    def reset_active_topics(self, name: str) -> None:
        self._client.delete_item(TableName=self.table_name, Key=self._ckey(name, "topics"))

    def close(self) -> None:
        """The boto3 client may be shared with the caller, so it is left open."""


_now = now


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _map(config: Mapping[str, str]) -> dict[str, Any]:
    return {"M": {k: {"S": v} for k, v in config.items()}}


def _unmap(value: dict[str, Any]) -> dict[str, str]:
    return {k: v["S"] for k, v in value["M"].items()}


def _fresh(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deep-enough copies of request fragments, since :meth:`_transact` stamps ``TableName`` in."""
    return json.loads(json.dumps(items))


def _entry(item: Item) -> ConnectorEntry:
    return ConnectorEntry(
        item["name"]["S"],
        _unmap(item["config"]),
        int(item["version"]["N"]),
        item["target_state"]["S"],
        float(item["created_at"]["N"]),
        float(item["updated_at"]["N"]),
    )


def _status(item: Item) -> StatusEntry:
    trace = item["trace"]["S"] if "trace" in item else None
    return StatusEntry(item["state"]["S"], item["worker_id"]["S"], trace, float(item["updated_at"]["N"]))


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.005 * min(attempt + 1, 20)))
