"""runledger for Python: record query and workflow executions into a durable local outbox
(SQLite) and send them to a runledger server in batches, exactly once. Standard library
only, Python 3.9+.

    from runledger import Tracker

    tracker = Tracker("http://127.0.0.1:8787", api_key=None, path="runledger-outbox.db")
    tracker.log_execution(user_id="u1", query="select 1", database_type="postgres",
                          status="success", execution_time=0.12)
    with tracker.run(workflow_id="etl") as run:
        with run.node("load") as node:
            node.output = {"rows": 3}
    tracker.close(timeout=5)
"""

from .outbox import DeadLetter
from .records import DEFAULT_MAX_BODY_BYTES, MAX_NODE_RUNS, MAX_RECORD_BYTES, MAX_VALUE_BYTES, RecordError
from .redact import REDACTED
from .tracker import DEFAULT_PATH, Node, Run, Tracker

__all__ = [
    "DEFAULT_MAX_BODY_BYTES", "DEFAULT_PATH", "DeadLetter", "MAX_NODE_RUNS", "MAX_RECORD_BYTES", "MAX_VALUE_BYTES", "Node", "REDACTED",
    "RecordError", "Run", "Tracker",
]
__version__ = "0.1.0"
