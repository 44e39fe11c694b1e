"""The whole app served on 127.0.0.1 (a free port), for tests that go through HTTP, the API or a browser."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def served_app(registry=None) -> Iterator[str]:
    """Build the app over `registry` (models.yaml when None), serve it and yield its URL; closed afterwards."""
    from llm_demo.ui import build_app, launch_options

    demo = build_app(registry)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                            **launch_options())
    try:
        yield url
    finally:
        demo.close()
