"""The whole app served on 127.0.0.1 (a free port), for tests that go through HTTP, the API or a browser,
and for the benchmark, which starts `python app.py` as a visitor finds it."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def served_app(registry=None) -> Iterator[str]:
    """Build the app over `registry` (models.yaml when None), serve it and yield its URL; closed afterwards."""
    from llm_demo.ui import build_app, launch_options

    demo = build_app(registry)
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **launch_options()
    )
    try:
        yield url
    finally:
        demo.close()


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on now: free to serve on, or closed to connect to."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def app_process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """The app as a process of its own (`command`, run in the repository), stopped afterwards."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(30)


def wait_for(url: str, seconds: float = 120, every: float = 0.5) -> str:
    """The URL once the app behind it answers, asking every `every` seconds."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return url
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(every)
