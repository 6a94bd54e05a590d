"""Kafka Connect states from what lambda-connect knows: the desired (target) state, the
reconciler's connector status and the tasks' own reports.

No worker holds a connector here, so the state shown is derived:

* connector — FAILED (with trace) or RESTARTING as recorded wins, except that a stopped
  connector is STOPPED (Kafka lets a FAILED connector be stopped); otherwise a PAUSED or
  STOPPED target shows as such, and a RUNNING target shows RUNNING once the reconciler has
  reported it (UNASSIGNED until then, or while a stale PAUSED/STOPPED report remains);
* tasks — none when STOPPED; a task's FAILED/RESTARTING report wins; a PAUSED target shows
  PAUSED; otherwise the task's RUNNING report, and for sink connectors RUNNING as long as
  the connector runs (its event source mapping is enabled, and a sink task only reports
  when an invocation fails), UNASSIGNED for a source task that has not run yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from lambda_connect.state.base import StatusEntry

__all__ = ["connector_state", "task_states"]

_STICKY = ("FAILED", "RESTARTING")


def connector_state(target: str, reported: StatusEntry | None) -> tuple[str, str | None, str | None]:
    """(state, worker_id or None, trace) of the connector instance."""
    if target == "STOPPED":
        return "STOPPED", reported.worker_id if reported else None, None
    if reported is not None and reported.state in _STICKY:
        return reported.state, reported.worker_id, reported.trace if reported.state == "FAILED" else None
    if target == "PAUSED":
        return "PAUSED", reported.worker_id if reported else None, None
    if reported is not None and reported.state == "RUNNING":
        return "RUNNING", reported.worker_id, None
    return "UNASSIGNED", reported.worker_id if reported else None, None


def task_states(
    target: str,
    connector: str,
    kind: str,
    count: int,
    reports: Mapping[int, StatusEntry],
) -> list[tuple[int, str, str | None, str | None]]:
    """(task id, state, worker_id or None, trace) for tasks ``0..count-1``."""
    if target == "STOPPED":
        return []
    out = []
    for task in range(count):
        report = reports.get(task)
        worker = report.worker_id if report else None
        if report is not None and report.state in _STICKY:
            out.append((task, report.state, worker, report.trace if report.state == "FAILED" else None))
        elif target == "PAUSED":
            out.append((task, "PAUSED", worker, None))
        elif (report is not None and report.state == "RUNNING") or (kind == "sink" and connector == "RUNNING"):
            out.append((task, "RUNNING", worker, None))
        else:
            out.append((task, "UNASSIGNED", worker, None))
    return out
