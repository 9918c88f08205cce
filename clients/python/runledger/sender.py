"""Sending the outbox to a runledger server in batches (`POST /v1/ingest`): a batch id
derived from the records' ids and versions (a resend of the same batch is answered from the
server's log, never stored twice), halving on `413`, dead letters for records refused for
good, and a wait before the next try (`Retry-After`, else exponential backoff)."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .outbox import Outbox

INGEST_PATH = "/v1/ingest"
SDK = "runledger-python/0.1.0"


@dataclass
class Outcome:
    """How a send pass ended."""

    #: Records still waiting.
    left: int
    #: Why the pass stopped early (None when everything was sent or refused for good).
    failure: Optional[str] = None
    #: Seconds the server asked to wait (Retry-After), when it did.
    retry_after: Optional[float] = None


def batch_id(client_id: str, records: List[Dict[str, Any]]) -> str:
    """The same records at the same versions always make the same batch id."""
    h = hashlib.sha256(client_id.encode())
    for r in records:
        h.update(b"\0" + r["id"].encode() + b"@" + str(r["version"]).encode())
    return "py-" + h.hexdigest()[:40]


def request_body(client_id: str, records: List[Dict[str, Any]]) -> bytes:
    """The ``POST /v1/ingest`` body that sends ``records``, byte for byte."""
    return json.dumps({
        "batch_id": batch_id(client_id, records),
        "client": {"id": client_id, "sdk": SDK},
        "records": records,
    }, separators=(",", ":")).encode()


#: The widest version the outbox can give (a SQLite integer): a record is measured with it,
#: before the outbox gives it its real one, so the measure never falls short.
_WIDEST_VERSION = 2 ** 63 - 1


def request_bytes_alone(client_id: str, record: Dict[str, Any]) -> int:
    """The size of the request that sends ``record`` alone, at any version it may get (at most
    18 bytes more than at version 1)."""
    return len(request_body(client_id, [dict(record, version=_WIDEST_VERSION)]))


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        return None


class Sender:
    """Sends what the outbox holds."""

    def __init__(self, endpoint: str, api_key: Optional[str], client_id: str, outbox: Outbox,
                 batch_size: int = 100, max_batch_bytes: int = 1024 * 1024) -> None:
        self.url = endpoint.rstrip("/") + INGEST_PATH
        self.api_key = api_key
        self.client_id = client_id
        self.outbox = outbox
        self.batch_size = batch_size
        self.max_batch_bytes = max_batch_bytes

    def _post(self, records: List[Dict[str, Any]], timeout: float):
        body = request_body(self.client_id, records)
        headers = {"content-type": "application/json", "user-agent": SDK}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def _fit(self, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """The longest prefix of ``records`` within the batch byte budget (at least one)."""
        size = 0
        for i, r in enumerate(records):
            size += len(json.dumps(r, separators=(",", ":")).encode()) + 1
            if size > self.max_batch_bytes and i > 0:
                return records[:i]
        return records

    def send(self, deadline_in: float = 10.0) -> Outcome:
        """Sends batches until the outbox is empty, a request fails, or about
        ``deadline_in`` seconds have passed."""
        import time

        end = time.monotonic() + deadline_in
        limit = self.batch_size
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                return Outcome(self.outbox.pending_count(), "the time for sending ran out")
            records = self._fit(self.outbox.pending(limit))
            if not records:
                return Outcome(0)
            try:
                status, body, headers = self._post(records, timeout=max(0.5, min(remaining, 30.0)))
            except (OSError, urllib.error.URLError) as e:
                reason = getattr(e, "reason", e)
                return Outcome(self.outbox.pending_count(), f"cannot reach {self.url}: {reason}")
            message = _error_message(body)
            if status == 200:
                answer = json.loads(body)
                self.outbox.delivered(records, answer.get("accepted", []))
                by_id = {r["id"]: r for r in records}
                for refused in answer.get("rejected", []):
                    if refused.get("id") in by_id:
                        self.outbox.refuse(by_id[refused["id"]], refused.get("reason", "refused"))
                limit = self.batch_size
                continue
            if status in (400, 413, 422) and len(records) > 1:
                # Find the record the server refuses: halve until it is alone.
                limit = max(1, len(records) // 2)
                continue
            if status in (400, 413, 422):
                self.outbox.refuse(records[0], f"HTTP {status}: {message}")
                continue
            return Outcome(self.outbox.pending_count(), f"HTTP {status} from {self.url}: {message}",
                           _retry_after(headers.get("retry-after") if headers else None))


def _error_message(body: bytes) -> str:
    try:
        return json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return body[:200].decode("utf-8", "replace")
