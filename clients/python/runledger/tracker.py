"""The tracker: records go to the local outbox first, a background thread sends them."""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import traceback
import uuid
from typing import Any, Callable, Dict, List, Optional

from .outbox import DeadLetter, Outbox
from .records import DEFAULT_MAX_BODY_BYTES, RecordError, check_size, now_ms, query_record, workflow_record
from .sender import Sender, request_bytes_alone

log = logging.getLogger("runledger")

#: Where the outbox lives unless told otherwise.
DEFAULT_PATH = "runledger-outbox.db"


class Tracker:
    """Records executions and sends them to a runledger server.

    ``Tracker(endpoint, api_key=None, path=DEFAULT_PATH)``: without an endpoint records stay in
    the outbox (``path``, a SQLite file). ``on_error(message)`` hears of each outage once
    (default: a warning in the ``runledger`` log). ``max_body_bytes`` is the server's
    ``--max-body-bytes`` (8 MiB by default): a record whose request would be larger is refused
    when it is recorded, with a ``RecordError``, since the server would never take it."""

    def __init__(self, endpoint: Optional[str] = None, api_key: Optional[str] = None,
                 path: str = DEFAULT_PATH, *, flush_interval: float = 1.0,
                 max_backoff: float = 30.0, queue_size: int = 10_000,
                 on_error: Optional[Callable[[str], None]] = None,
                 client_id: Optional[str] = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes must be a positive number of bytes (the server's --max-body-bytes), not {max_body_bytes!r}")
        self.outbox = Outbox(path)
        self._on_error = on_error or (lambda message: log.warning("%s", message))
        self.client_id = client_id or f"py-{uuid.uuid4()}"
        self.max_body_bytes = max_body_bytes
        # A batch stays within half the body limit (at most 1 MiB); a record larger goes alone.
        self._sender = Sender(endpoint, api_key, self.client_id, self.outbox,
                              max_batch_bytes=min(1024 * 1024, max_body_bytes // 2)) if endpoint else None
        self._flush_interval = flush_interval
        self._max_backoff = max_backoff
        self._background: "queue.Queue[Callable[[], Dict[str, Any]]]" = queue.Queue(queue_size)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._send_lock = threading.Lock()
        self._failing: Optional[str] = None
        self._closed = False
        self.dropped = 0
        self._worker = threading.Thread(target=self._run, name="runledger-sender", daemon=True)
        self._worker.start()

    # Recording -----------------------------------------------------------------------------

    def _put(self, record: Dict[str, Any]) -> str:
        if self._closed:
            raise RuntimeError("this tracker is closed")
        self.outbox.put(self._checked(record))
        self._wake.set()
        return record["id"]

    def _checked(self, record: Dict[str, Any]) -> Dict[str, Any]:
        """``record`` if the server can take it (its request alone within ``max_body_bytes``)."""
        return check_size(record, request_bytes_alone(self.client_id, record), self.max_body_bytes)

    def log_execution(self, **fields: Any) -> str:
        """Records a query execution (the data API's fields: ``execution_id``, ``user_id``,
        ``conversation_id``, ``query``, ``database_type``, ``query_complexity``, ``status``,
        ``execution_time`` in seconds, ``total_rows``, ``returned_rows``, ``page``,
        ``page_size``, ``error_message``, ``error_type``, ``started_at``, ``completed_at``,
        ``connection_params``, ``request_metadata``, ``response_metadata``); returns its id.
        Raises ``RecordError`` (or ``TypeError`` for an unknown field) on bad input."""
        return self._put(query_record(**fields))

    def log_workflow(self, **fields: Any) -> str:
        """Records a workflow execution (the editor's fields: ``id``, ``workflow_id``,
        ``workflow_name``, ``status``, ``started_at``, ``completed_at``, ``duration_ms``,
        ``trigger={type, data}``, ``node_executions=[{nodeId, nodeName, nodeType, status,
        startedAt, completedAt, durationMs, input, output, error}]``, ``error={message,
        stack, nodeId}``); returns its id."""
        return self._put(workflow_record(**fields))

    def _enqueue(self, build: Callable[[], Dict[str, Any]]) -> None:
        try:
            self._background.put_nowait(build)
            self._wake.set()
        except queue.Full:
            self.dropped += 1
            self._report(f"the background queue is full ({self._background.maxsize}); a record was dropped")

    def log_execution_background(self, **fields: Any) -> None:
        """``log_execution`` that never blocks and never raises: the record is built and
        written by the sending thread; a problem goes to ``on_error``."""
        self._enqueue(lambda: query_record(**fields))

    def log_workflow_background(self, **fields: Any) -> None:
        """``log_workflow`` that never blocks and never raises."""
        self._enqueue(lambda: workflow_record(**fields))

    def run(self, workflow_id: str, **fields: Any) -> "Run":
        """A context manager recording one workflow run and its nodes::

            with tracker.run(workflow_id="etl") as run:
                with run.node("load") as node:
                    node.output = {"rows": 3}
        """
        return Run(self, workflow_id, fields)

    # Dead letters ---------------------------------------------------------------------------

    def dead_letters(self) -> List[DeadLetter]:
        """Records the server refused for good, with the reasons."""
        return self.outbox.dead_letters()

    def discard_dead_letters(self, ids: Optional[List[str]] = None) -> int:
        """Deletes dead letters (these ids, or all); returns how many."""
        return self.outbox.discard(ids)

    def pending(self) -> int:
        """Records waiting to be sent."""
        return self.outbox.pending_count() + self._background.qsize()

    # Sending --------------------------------------------------------------------------------

    def _report(self, message: str) -> None:
        try:
            self._on_error(message)
        except Exception:  # an on_error that fails must not stop the sender
            log.exception("runledger on_error failed")

    def _drain_background(self) -> None:
        while True:
            try:
                build = self._background.get_nowait()
            except queue.Empty:
                return
            try:
                self.outbox.put(self._checked(build()))
            except Exception as e:  # never into the caller: reported instead
                self._report(f"a background record was not recorded: {e}")

    def flush(self, timeout: float = 10.0) -> int:
        """Sends what is waiting, within ``timeout`` seconds; returns how many are left."""
        self._drain_background()
        if self._sender is None:
            return self.outbox.pending_count()
        started = time.monotonic()
        if not self._send_lock.acquire(timeout=max(0.0, timeout)):
            return self.outbox.pending_count()
        try:
            outcome = self._sender.send(max(0.0, timeout - (time.monotonic() - started)))
        finally:
            self._send_lock.release()
        self._note(outcome.failure)
        return outcome.left

    def _note(self, failure: Optional[str]) -> None:
        """One report per outage, not one per retry."""
        if failure and self._failing is None:
            self._report(f"runledger cannot send (records stay in the outbox and are retried): {failure}")
        elif failure is None and self._failing is not None:
            log.info("runledger sends again")
        self._failing = failure

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._drain_background()
            if self._sender is None or self.outbox.pending_count() == 0:
                continue
            with self._send_lock:
                outcome = self._sender.send(30.0)
            self._note(outcome.failure)
            if outcome.failure is None:
                failures = 0
                continue
            failures += 1
            wait = outcome.retry_after
            if wait is None:
                wait = min(self._max_backoff, 0.25 * 2 ** min(failures, 10)) * random.uniform(0.5, 1.0)
            self._stop.wait(wait)

    def close(self, timeout: float = 5.0) -> int:
        """Stops the sender and tries a last send within ``timeout`` seconds; returns how many
        records are left in the outbox (sent on the next start with the same ``path``)."""
        if self._closed:
            return self.outbox.pending_count()
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout)
        left = self.flush(timeout) if self._sender else self.outbox.pending_count()
        if left:
            log.warning("runledger closed with %d record(s) left in %s", left, os.path.abspath(self.outbox.path))
        self.outbox.close()
        return left

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Node:
    """One node's run inside a :class:`Run`; set ``output`` (and ``input``) before it ends."""

    def __init__(self, run: "Run", node_id: str, name: Optional[str], node_type: Optional[str], input: Any):
        self._run = run
        self.node_id = node_id
        self.name = name
        self.type = node_type
        self.input = input
        self.output: Any = None
        self.skipped = False
        self._started = now_ms()

    def __enter__(self) -> "Node":
        self._started = now_ms()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        entry: Dict[str, Any] = {
            "nodeId": self.node_id, "nodeName": self.name, "nodeType": self.type,
            "startedAt": self._started, "completedAt": now_ms(), "input": self.input,
            "output": self.output,
            "status": "skipped" if self.skipped else ("error" if exc is not None else "success"),
        }
        if exc is not None:
            entry["error"] = {"message": f"{exc_type.__name__}: {exc}", "stack": "".join(traceback.format_tb(tb))}
            self._run._failed_node = self.node_id
        self._run._nodes.append({k: v for k, v in entry.items() if v is not None})
        return False  # the exception goes on to the caller


class Run:
    """A workflow run recorded as it happens: ``running`` when it starts, its final state and
    nodes when the ``with`` block ends (``error`` with the exception, which is re-raised)."""

    def __init__(self, tracker: Tracker, workflow_id: str, fields: Dict[str, Any]):
        self._tracker = tracker
        self._fields = dict(fields, workflow_id=workflow_id)
        self._fields.setdefault("id", str(uuid.uuid4()))
        self.id: str = self._fields["id"]
        self._nodes: List[Dict[str, Any]] = []
        self._failed_node: Optional[str] = None
        self._started = now_ms()

    def node(self, node_id: str, name: Optional[str] = None, type: Optional[str] = None, input: Any = None) -> Node:
        """A context manager timing one node; an exception marks it ``error`` and goes on."""
        return Node(self, node_id, name, type, input)

    def __enter__(self) -> "Run":
        self._started = now_ms()
        self._tracker.log_workflow(**self._fields, status="running", started_at=self._started)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        error = None
        if exc is not None:
            error = {"message": f"{exc_type.__name__}: {exc}", "stack": "".join(traceback.format_tb(tb))}
            if self._failed_node:
                error["nodeId"] = self._failed_node
        try:
            self._tracker.log_workflow(
                **self._fields, status="error" if exc is not None else "success",
                started_at=self._started, completed_at=now_ms(), node_executions=self._nodes, error=error,
            )
        except RecordError as e:
            # The workflow's own exception matters more than a recording problem.
            self._tracker._report(f"run {self.id} was not recorded: {e}")
            if exc is None:
                raise
        return False
