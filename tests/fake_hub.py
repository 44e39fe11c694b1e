"""A local HTTP server standing in for the Hugging Face Hub: serves model folders as repositories.

It answers what huggingface_hub and transformers ask of the Hub when HF_ENDPOINT points here: the file
listing (/api/models/ID/tree/REV), file metadata (HEAD .../resolve/REV/FILE with X-Repo-Commit, ETag and
Content-Length) and the files themselves; an unknown repository or file gets the Hub's 404 and error code.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _handler(
    repos: dict[str, Path], requests: list[str], bytes_per_second: float | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            path = unquote(urlparse(self.path).path)
            requests.append(f"{self.command} {path}")
            if path.startswith("/api/models/"):
                return self._api(path.removeprefix("/api/models/"), body)
            if "/resolve/" in path:
                repo, _, rest = path.lstrip("/").partition("/resolve/")
                return self._file(repo, rest.partition("/")[2], body)
            self._error(404, "RepoNotFound")

        def _api(self, rest: str, body: bool) -> None:
            repo = next((name for name in repos if rest == name or rest.startswith(name + "/")), None)
            if repo is None:
                return self._error(404, "RepoNotFound")
            tail = rest.removeprefix(repo).strip("/")
            files = sorted(p for p in repos[repo].iterdir() if p.is_file())
            if tail.startswith("tree/"):
                if tail.count("/") > 1:  # a subfolder such as additional_chat_templates: there are none
                    return self._error(404, "EntryNotFound")
                listing = [{"type": "file", "path": p.name, "size": p.stat().st_size, "oid": _sha1(p)} for p in files]
                return self._json(listing, body)
            siblings = [{"rfilename": p.name, "size": p.stat().st_size} for p in files]
            self._json({"id": repo, "modelId": repo, "sha": COMMIT, "siblings": siblings, "private": False}, body)

        def _file(self, repo: str, name: str, body: bool) -> None:
            if repo not in repos:
                return self._error(404, "RepoNotFound")
            path = repos[repo] / name
            if not path.is_file():
                return self._error(404, "EntryNotFound")
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body and bytes_per_second:
                self._send_slowly(data)
            elif body:
                self.wfile.write(data)

        def _send_slowly(self, data: bytes) -> None:
            """A slow connection: 20 pieces a second, so a download takes visible time."""
            piece = max(1, int(bytes_per_second / 20))
            for start in range(0, len(data), piece):
                self.wfile.write(data[start : start + piece])
                self.wfile.flush()
                time.sleep(0.05)

        def _json(self, value, body: bool) -> None:
            data = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def _error(self, status: int, code: str) -> None:
            data = json.dumps({"error": code}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            if code == "EntryNotFound":  # the repository exists, only this file does not
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


@contextmanager
def serving(repos: dict[str, Path], bytes_per_second: float | None = None):
    """Serve `repos` (Hub id -> folder) on a free port of 127.0.0.1, at full speed or `bytes_per_second`;
    yields (endpoint URL, requests seen)."""
    requests: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(repos, requests, bytes_per_second))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()
