"""Building records in the server's stored model from the two shapes the old trackers used:
the data API's query log (DOMAIN.md C) and the workflow editor's execution (DOMAIN.md E)."""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any, Dict, Iterable, List, Optional, Union

from .redact import mask_text, redact

Timestamp = Union[_dt.datetime, int, float, str, None]

STATUSES = ("running", "success", "failed", "error", "timeout", "cancelled", "interrupted")
NODE_STATUSES = ("pending", "running", "success", "error", "skipped", "cancelled")
TRIGGER_TYPES = ("manual", "http", "scheduled", "api", "other")
NODE_KEYS = (
    "nodeId", "nodeName", "nodeType", "status", "startedAt", "completedAt", "durationMs",
    "input", "output", "error",
)
ERROR_KEYS = ("message", "stack", "nodeId", "type")

#: Largest JSON size of one payload value (a node's input or output, a metadata object): the
#: JS client's default too. A record with a larger one is refused at record time, where the
#: caller can still act, rather than by the server later.
MAX_VALUE_BYTES = 64 * 1024
#: Most node runs in one execution (the server's limit).
MAX_NODE_RUNS = 10_000
#: The ingest server's default ``--max-body-bytes`` (server/src/main.rs): the largest request
#: body it accepts (``413`` above it). A record is sent at least alone in its request, so one
#: whose request would be larger can never land; ``Tracker(max_body_bytes=...)`` names the
#: limit of a server started with another value.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Kept for code written against 0.1.0: the same limit.
MAX_RECORD_BYTES = DEFAULT_MAX_BODY_BYTES


def check_size(record: Dict[str, Any], request_bytes: int, limit: int) -> Dict[str, Any]:
    """``record`` if the request that sends it alone (``request_bytes``) fits in the server's
    body limit, else a ``RecordError`` naming the execution, both sizes and the server flag."""
    if request_bytes > limit:
        raise RecordError(
            f"execution `{record.get('id')}` would be sent as a request of {request_bytes} bytes, more than "
            f"the server accepts in one request ({limit} bytes, its --max-body-bytes; 8 MiB by default): "
            "the server would refuse it (413) and it could never land. Record fewer or smaller node "
            "payloads, or start the server with a larger --max-body-bytes and give the Tracker the same "
            "max_body_bytes"
        )
    return record


class RecordError(ValueError):
    """A record that cannot be recorded; the message says which field and why."""


def now_ms() -> int:
    return int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000)


def to_millis(value: Timestamp, field: str) -> Optional[int]:
    """Milliseconds since the epoch from a datetime (naive means UTC), epoch milliseconds,
    or an RFC 3339 text."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise RecordError(f"`{field}` must be a datetime, epoch milliseconds or an RFC 3339 text, not a bool")
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return int(round(value.timestamp() * 1000))
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith("Z") else value
        try:
            parsed = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(f"`{field}` is not an RFC 3339 timestamp: {value!r}") from None
        return to_millis(parsed, field)
    raise RecordError(f"`{field}` must be a datetime, epoch milliseconds or an RFC 3339 text, not {type(value).__name__}")


def _check_status(status: str, allowed: Iterable[str], field: str) -> str:
    if status not in allowed:
        raise RecordError(f"`{field}` is {status!r}; expected one of {', '.join(allowed)}")
    return status


def _payload(value: Any, field: str) -> Any:
    """A JSON payload, redacted, within the size limit."""
    if value is None:
        return None
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError) as e:
        raise RecordError(f"`{field}` is not JSON: {e}") from None
    if len(text.encode()) > MAX_VALUE_BYTES:
        raise RecordError(
            f"`{field}` is {len(text.encode())} bytes of JSON, over the limit of {MAX_VALUE_BYTES}; record a summary instead"
        )
    return redact(json.loads(text))


def _error(error: Optional[Dict[str, Any]], field: str) -> Optional[Dict[str, Any]]:
    if error is None:
        return None
    unknown = sorted(set(error) - set(ERROR_KEYS))
    if unknown:
        raise RecordError(f"`{field}` has unknown key `{unknown[0]}` (known keys: {', '.join(ERROR_KEYS)})")
    out: Dict[str, Any] = {"message": mask_text(str(error.get("message", "")))}
    if error.get("stack") is not None:
        out["stack"] = mask_text(str(error["stack"]))
    if error.get("type") is not None:
        out["type"] = str(error["type"])
    if error.get("nodeId") is not None:
        out["nodeId"] = str(error["nodeId"])
    return out


def _drop_none(record: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None and v != {}}


def query_record(
    *,
    execution_id: Optional[str] = None,
    user_id: Optional[str] = None,
    conversation_id: Optional[str] = None,
    query: Optional[str] = None,
    database_type: Optional[str] = None,
    query_complexity: Optional[str] = None,
    status: str = "success",
    execution_time: Optional[float] = None,
    total_rows: Optional[int] = None,
    returned_rows: Optional[int] = None,
    page: Optional[int] = None,
    page_size: Optional[int] = None,
    error_message: Optional[str] = None,
    error_type: Optional[str] = None,
    started_at: Timestamp = None,
    completed_at: Timestamp = None,
    connection_params: Optional[Dict[str, Any]] = None,
    request_metadata: Optional[Dict[str, Any]] = None,
    response_metadata: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """A query execution (the data API's fields; ``execution_time`` in seconds)."""
    _check_status(status, STATUSES, "status")
    if execution_time is not None and (execution_time != execution_time or execution_time < 0):
        raise RecordError(f"`execution_time` is {execution_time}; expected seconds, 0 or more")
    completed = to_millis(completed_at, "completed_at")
    started = to_millis(started_at, "started_at")
    if started is None:
        end = completed if completed is not None else now_ms()
        started = end - int(round((execution_time or 0) * 1000))
    if completed is None and status != "running" and execution_time is not None:
        completed = started + int(round(execution_time * 1000))
    error = None
    if error_message is not None or error_type is not None:
        error = _error({"message": error_message or "", "type": error_type}, "error")
    q = _drop_none({
        "text": mask_text(query) if query is not None else None,
        "databaseType": database_type,
        "complexity": query_complexity,
        "totalRows": total_rows,
        "returnedRows": returned_rows,
        "page": page,
        "pageSize": page_size,
    })
    metadata = _drop_none({
        "connection": _payload(connection_params, "connection_params"),
        "request": _payload(request_metadata, "request_metadata"),
        "response": _payload(response_metadata, "response_metadata"),
    })
    return _drop_none({
        "id": execution_id or str(uuid.uuid4()),
        "kind": "query",
        "userId": user_id,
        "sessionId": conversation_id,
        "status": status,
        "startedAt": started,
        "completedAt": completed,
        "durationMs": execution_time * 1000 if execution_time is not None else None,
        "error": error,
        "query": q,
        "metadata": metadata,
    })


def _node(n: Dict[str, Any], index: int, attempts: Dict[str, int]) -> Dict[str, Any]:
    field = f"node_executions[{index}]"
    if not isinstance(n, dict):
        raise RecordError(f"`{field}` must be a dict in the editor's shape ({', '.join(NODE_KEYS)})")
    unknown = sorted(set(n) - set(NODE_KEYS))
    if unknown:
        raise RecordError(f"`{field}` has unknown key `{unknown[0]}` (known keys: {', '.join(NODE_KEYS)})")
    if not n.get("nodeId"):
        raise RecordError(f"`{field}.nodeId` is required")
    node_id = str(n["nodeId"])
    attempts[node_id] = attempts.get(node_id, 0) + 1
    return _drop_none({
        "id": node_id,
        "name": n.get("nodeName"),
        "type": n.get("nodeType"),
        "attempt": attempts[node_id],
        "status": _check_status(n.get("status", "success"), NODE_STATUSES, f"{field}.status"),
        "startedAt": to_millis(n.get("startedAt"), f"{field}.startedAt") or now_ms(),
        "completedAt": to_millis(n.get("completedAt"), f"{field}.completedAt"),
        "durationMs": n.get("durationMs"),
        "input": _payload(n.get("input"), f"{field}.input"),
        "output": _payload(n.get("output"), f"{field}.output"),
        "error": _error(n.get("error"), f"{field}.error"),
    })


def workflow_record(
    *,
    workflow_id: str,
    id: Optional[str] = None,
    workflow_name: Optional[str] = None,
    status: str = "success",
    started_at: Timestamp = None,
    completed_at: Timestamp = None,
    duration_ms: Optional[float] = None,
    trigger: Optional[Dict[str, Any]] = None,
    node_executions: Optional[List[Dict[str, Any]]] = None,
    error: Optional[Dict[str, Any]] = None,
    user_id: Optional[str] = None,
) -> Dict[str, Any]:
    """A workflow execution (the editor's fields; nodes in its ``nodeExecutions`` shape)."""
    if not workflow_id:
        raise RecordError("`workflow_id` is required")
    _check_status(status, STATUSES, "status")
    nodes = node_executions or []
    if len(nodes) > MAX_NODE_RUNS:
        raise RecordError(f"`node_executions` has {len(nodes)} runs, over the limit of {MAX_NODE_RUNS}")
    attempts: Dict[str, int] = {}
    trig = None
    if trigger is not None:
        unknown = sorted(set(trigger) - {"type", "data"})
        if unknown:
            raise RecordError(f"`trigger` has unknown key `{unknown[0]}` (known keys: type, data)")
        trig = _drop_none({
            "type": _check_status(trigger.get("type", "manual"), TRIGGER_TYPES, "trigger.type"),
            "data": _payload(trigger.get("data"), "trigger.data"),
        })
    return _drop_none({
        "id": id or str(uuid.uuid4()),
        "kind": "workflow",
        "workflowId": workflow_id,
        "workflowName": workflow_name,
        "userId": user_id,
        "status": status,
        "startedAt": to_millis(started_at, "started_at") or now_ms(),
        "completedAt": to_millis(completed_at, "completed_at"),
        "durationMs": duration_ms,
        "trigger": trig,
        "error": _error(error, "error"),
        "nodes": [_node(n, i, attempts) for i, n in enumerate(nodes)] or None,
    })
