"""`exam run` really serves (the quick start's last step), printing the URL and the demo sign-ins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def test_exam_run_serves_the_sign_in_page(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "EXAM_INSTANCE_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/run.sqlite3"}
    env.pop("CELERY_BROKER_URL", None)
    exe = Path(sys.executable).parent / "exam"
    server = subprocess.Popen(
        [str(exe), "run", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        status = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1) as response:
                    status = response.status
                    break
            except OSError:
                time.sleep(0.1)
        assert status == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/login" in output and "student01" in output
