"""Starts the real runledger-server binary (the server profile build) on a fresh SQLite
database and a free loopback port, for the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import Any, List, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SERVER_BIN = os.environ.get("RUNLEDGER_SERVER_BIN", os.path.join(ROOT, "target", "server", "runledger-server"))


class Server:
    """A running server: ``base`` URL, ``get``/``post`` helpers, ``stop``."""

    def __init__(self, *args: str, port: int = 0, db_dir: Optional[str] = None) -> None:
        if not os.path.exists(SERVER_BIN):
            raise RuntimeError(f"build the server first: cargo build --profile server -p runledger-server ({SERVER_BIN})")
        self.dir = db_dir or tempfile.mkdtemp(prefix="runledger-py-")
        self._own_dir = db_dir is None
        argv = [SERVER_BIN, "--listen", f"127.0.0.1:{port}", "--db", f"sqlite:{os.path.join(self.dir, 'db.sqlite')}",
                "--test-faults", *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log: List[str] = []
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 30
        self.base = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if "listening on " in line:
                self.base = line.split("listening on ", 1)[1].split()[0]
                break
        if not self.base:
            self.proc.kill()
            raise RuntimeError("the server did not start: " + "".join(self.log))
        self.port = int(self.base.rsplit(":", 1)[1])

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as r:
            return json.loads(r.read())

    def execution(self, id_: str) -> Optional[dict]:
        try:
            return self.get(f"/api/v1/execution/{id_}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def faults(self, plan: dict) -> None:
        request = urllib.request.Request(self.base + "/v1/__test/faults", data=json.dumps(plan).encode(),
                                         headers={"content-type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stats(self) -> dict:
        return self.get("/v1/__test/stats")

    def stop(self, keep_db: bool = False) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        if self._own_dir and not keep_db:
            shutil.rmtree(self.dir, ignore_errors=True)
