"""The Python client against the real server binary (SQLite) over real HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.dirname(__file__))

from runledger import REDACTED, RecordError, Tracker  # noqa: E402
from runledger.records import workflow_record  # noqa: E402
from runledger.sender import request_body  # noqa: E402
from server import Server  # noqa: E402


def wait_for(check, timeout=10.0):
    """Polls ``check`` until it returns something truthy (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class TrackerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="runledger-py-outbox-")
        self.path = os.path.join(self.dir, "outbox.db")
        self.errors = []

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def tracker(self, endpoint=None, **options):
        return Tracker(endpoint or self.server.base, path=self.path, on_error=self.errors.append, **options)

    def test_a_query_execution_lands_with_its_fields_and_secrets_masked(self):
        t = self.tracker()
        id_ = t.log_execution(
            user_id="u-py", conversation_id="c-py", query="select * from t", database_type="postgres",
            query_complexity="simple", status="failed", execution_time=0.5, total_rows=10, returned_rows=2,
            page=1, page_size=2, error_message="login failed for postgres://app:hunter2@db/x",
            error_type="AuthError", started_at="2026-11-01T10:00:00Z",
            connection_params={"host": "db", "password": "hunter2"}, request_metadata={"route": "/q"},
        )
        # Masked before it was written locally, not only on the server.
        with open(self.path, "rb") as f:
            self.assertNotIn(b"hunter2", f.read())
        self.assertEqual(t.close(timeout=10), 0)
        e = self.server.execution(id_)
        self.assertEqual(e["kind"], "query")
        self.assertEqual(e["userId"], "u-py")
        self.assertEqual(e["sessionId"], "c-py")
        self.assertEqual(e["status"], "failed")
        self.assertEqual(e["durationMs"], 500)
        self.assertEqual(e["completedAt"] - e["startedAt"], 500)
        self.assertEqual(e["query"]["databaseType"], "postgres")
        self.assertEqual(e["metadata"]["connection"]["password"], REDACTED)
        self.assertNotIn("hunter2", str(e))
        self.assertEqual(e["error"]["type"], "AuthError")

    def test_the_run_context_manager_records_nodes_timing_and_exceptions(self):
        t = self.tracker()
        with self.assertRaises(ZeroDivisionError):
            with t.run(workflow_id="etl-py", workflow_name="ETL") as run:
                with run.node("load", type="sql", input={"table": "t"}) as node:
                    time.sleep(0.02)
                    node.output = {"rows": 3}
                with run.node("divide"):
                    1 / 0
        self.assertEqual(t.close(timeout=10), 0)
        e = self.server.execution(run.id)
        self.assertEqual(e["status"], "error")
        self.assertEqual(e["workflowId"], "etl-py")
        self.assertEqual([n["id"] for n in e["nodes"]], ["load", "divide"])
        self.assertEqual([n["status"] for n in e["nodes"]], ["success", "error"])
        self.assertGreaterEqual(e["nodes"][0]["durationMs"], 15)
        self.assertEqual(e["nodes"][0]["output"], {"rows": 3})
        self.assertIn("ZeroDivisionError", e["nodes"][1]["error"]["message"])
        self.assertEqual(e["error"]["nodeId"], "divide")
        self.assertEqual(e["failedNodes"], ["divide"])
        self.assertEqual(e["version"], 2, "running, then the final state")

    def test_log_workflow_takes_the_editor_shape(self):
        t = self.tracker()
        id_ = t.log_workflow(
            workflow_id="wf-py", status="success", started_at=1_790_000_000_000, completed_at=1_790_000_000_300,
            trigger={"type": "scheduled", "data": {"cron": "0 * * * *"}},
            node_executions=[{"nodeId": "a", "status": "success", "startedAt": 1_790_000_000_000,
                              "completedAt": 1_790_000_000_100, "output": {"ok": True}}],
        )
        with self.assertRaisesRegex(RecordError, "unknown key `inputs`"):
            t.log_workflow(workflow_id="wf-py", node_executions=[{"nodeId": "a", "inputs": {}}])
        with self.assertRaises(TypeError):
            t.log_execution(user_id="u", databse_type="pg")  # a misspelt field is refused
        self.assertEqual(t.close(timeout=10), 0)
        e = self.server.execution(id_)
        self.assertEqual(e["trigger"], {"type": "scheduled", "data": {"cron": "0 * * * *"}})
        self.assertEqual(e["nodes"][0]["durationMs"], 100, "derived by the server")
        self.assertEqual(e["durationMs"], 300)

    def test_records_survive_an_outage_and_land_exactly_once(self):
        offline = self.tracker(f"http://127.0.0.1:{closed_port()}", flush_interval=0.05)
        ids = [offline.log_execution(user_id="u-outage", status="success", execution_time=0.01) for _ in range(5)]
        wait_for(lambda: self.errors)
        time.sleep(0.5)  # several retries while the server is unreachable
        self.assertEqual(len(self.errors), 1, f"one error per outage, not one per retry: {self.errors}")
        self.assertIn("cannot reach", self.errors[0])
        self.assertEqual(offline.close(timeout=0.5), 5, "close says what is left")
        before = self.server.stats()
        # A new tracker on the same outbox sends them; the server answers 503 twice first.
        self.server.faults({"fail": [{"status": 503, "retryAfter": 0, "count": 2}]})
        online = self.tracker(flush_interval=0.05)
        wait_for(lambda: online.pending() == 0, timeout=20)
        self.assertEqual(online.close(timeout=5), 0)
        after = self.server.stats()
        self.assertEqual(after["rows"] - before["rows"], 5, "each record stored once")
        self.assertGreaterEqual(after["requests"] - before["requests"], 3, "two refused, then delivered")
        for id_ in ids:
            self.assertEqual(self.server.execution(id_)["version"], 1)

    def test_a_resend_after_a_lost_answer_is_not_stored_twice(self):
        t = self.tracker(flush_interval=3600)
        # No background sending in this test: only the explicit sends below.
        t._stop.set()
        t._wake.set()
        t._worker.join(5)
        id_ = t.log_execution(user_id="u-resend", status="success", execution_time=0.01)
        records = t.outbox.pending(10)
        before = self.server.stats()
        # The batch reaches the server but its answer is lost: the outbox still holds it.
        status, _, _ = t._sender._post(records, timeout=5)
        self.assertEqual(status, 200)
        self.assertEqual(t.pending(), 1)
        self.assertEqual(t.flush(timeout=5), 0)
        after = self.server.stats()
        self.assertEqual(after["requests"] - before["requests"], 2, "sent twice")
        self.assertEqual(after["rows"] - before["rows"], 1, "stored once")
        self.assertEqual(self.server.execution(id_)["version"], 1)
        # A later change of the same execution is the next version.
        t.log_execution(execution_id=id_, user_id="u-resend", status="failed", execution_time=0.02)
        self.assertEqual(t.flush(timeout=5), 0)
        self.assertEqual(self.server.execution(id_)["version"], 2)
        self.assertEqual(self.server.execution(id_)["status"], "failed")
        t.close(timeout=1)

    def test_a_record_the_server_refuses_becomes_a_dead_letter_to_inspect_and_discard(self):
        t = self.tracker(flush_interval=3600)
        start = 1_790_000_000_000
        bad = t.log_workflow(workflow_id="wf-dead", status="success", started_at=start + 1000, completed_at=start)
        good = t.log_workflow(workflow_id="wf-dead", status="success", started_at=start, completed_at=start + 1000)
        self.assertEqual(t.flush(timeout=5), 0)
        self.assertIsNotNone(self.server.execution(good))
        self.assertIsNone(self.server.execution(bad))
        letters = t.dead_letters()
        self.assertEqual([d.id for d in letters], [bad])
        self.assertIn("completedAt", letters[0].reason)
        self.assertEqual(t.discard_dead_letters([bad]), 1)
        self.assertEqual(t.dead_letters(), [])
        t.close(timeout=1)

    def test_background_logging_never_raises_into_the_caller(self):
        t = self.tracker(flush_interval=0.05)
        t.log_execution_background(user_id="u-bg", status="not-a-status")
        t.log_execution_background(user_id="u-bg", connection_params={"x": object()})
        t.log_execution_background(user_id="u-bg", status="success", execution_time=0.1, execution_id="bg-ok")
        wait_for(lambda: len(self.errors) >= 1 and t.pending() == 0)
        self.assertEqual(t.close(timeout=5), 0)
        self.assertIsNotNone(self.server.execution("bg-ok"))
        self.assertTrue(any("not-a-status" in e for e in self.errors), self.errors)

    def test_a_value_over_the_size_limit_is_refused_at_record_time(self):
        t = self.tracker()
        with self.assertRaisesRegex(RecordError, "over the limit"):
            t.log_execution(user_id="u", response_metadata={"blob": "x" * 70_000})
        # Each node payload within its limit, the whole record over one request's share.
        nodes = [{"nodeId": f"n{i}", "status": "success", "output": {"blob": "y" * 60_000}} for i in range(150)]
        with self.assertRaisesRegex(RecordError, "its --max-body-bytes; 8 MiB by default"):
            t.log_workflow(workflow_id="wf-big", node_executions=nodes)
        self.assertEqual(t.pending(), 0, "nothing was queued")
        t.close(timeout=1)

    def test_a_record_the_server_would_refuse_for_size_is_refused_at_record_time_and_the_server_agrees(self):
        # A server started with a small --max-body-bytes, and records whose request, sent
        # alone, is a few bytes under or just over it (measured as the client sends it).
        limit = 64 * 1024
        small = Server("--max-body-bytes", str(limit))
        try:
            def record_of_request_size(id_, target):
                fields = {"id": id_, "workflow_id": "wf-size", "status": "success",
                          "started_at": 1_790_000_000_000, "completed_at": 1_790_000_001_000}

                def sized(pad):
                    nodes = [{"nodeId": f"n{i}", "status": "success", "output": {"blob": "z" * (pad // 4)}} for i in range(4)]
                    fields["node_executions"] = nodes
                    return len(request_body(client, [dict(workflow_record(**fields), version=1)]))
                pad = 4 * ((target - sized(0)) // 4)
                while sized(pad) < target:
                    pad += 4
                return dict(fields), sized(pad)

            client = "py-size-test"
            fits, fits_bytes = record_of_request_size("size-fits", limit - 40)
            over, over_bytes = record_of_request_size("size-over", limit + 1)
            self.assertLessEqual(fits_bytes, limit - 19)  # room for the widest version number
            self.assertGreater(over_bytes, limit)

            t = Tracker(small.base, path=self.path, on_error=self.errors.append, client_id=client,
                        max_body_bytes=limit, flush_interval=3600)
            with self.assertRaises(RecordError) as refused:
                t.log_workflow(**over)
            message = str(refused.exception)
            self.assertIn("execution `size-over`", message)
            self.assertIn("--max-body-bytes", message)
            self.assertIn(str(limit), message)
            self.assertEqual(t.pending(), 0, "nothing was queued")
            t.log_workflow(**fits)
            self.assertEqual(t.flush(timeout=5), 0)
            self.assertIsNotNone(small.execution("size-fits"), "the record just under the limit landed")
            t.close(timeout=1)

            # The server agrees: a client told of a larger limit sends the same record, and the
            # server refuses it (413), so it becomes a dead letter.
            lax_path = os.path.join(self.dir, "lax.db")
            lax = Tracker(small.base, path=lax_path, on_error=self.errors.append, client_id=client,
                          max_body_bytes=1024 * 1024, flush_interval=3600)
            lax.log_workflow(**over)
            self.assertEqual(lax.flush(timeout=5), 0)
            self.assertIsNone(small.execution("size-over"))
            letters = lax.dead_letters()
            self.assertEqual([d.id for d in letters], ["size-over"])
            self.assertIn("HTTP 413", letters[0].reason)
            lax.close(timeout=1)
        finally:
            small.stop()

    def test_max_body_bytes_must_be_a_positive_number(self):
        for bad in (0, -1, "8MiB", True, 1.5):
            with self.assertRaisesRegex(ValueError, "max_body_bytes must be a positive number"):
                Tracker(path=self.path, max_body_bytes=bad)

    def test_the_outbox_is_sqlite_and_keeps_records_without_an_endpoint(self):
        t = Tracker(path=self.path)
        t.log_execution(user_id="u-local", status="success", execution_time=0.01)
        self.assertEqual(t.close(), 1)
        rows = sqlite3.connect(self.path).execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        self.assertEqual(rows, 1)


if __name__ == "__main__":
    unittest.main()
