"""A bounded load of concurrent gradio_client users on loopback, mixing light and heavy requests.

    python tests/load/mixed_clients.py http://127.0.0.1:7860/ --clients 8 --seconds 60

Every request must answer without error; the report gives p50/p95 latency per endpoint.
Only loopback URLs are accepted: this is a test of our own server, never of anyone else's.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

REQUESTS = [  # (endpoint, arguments) cycled by every client
    ("/sentiment", ("great film\nawful service\n还不错",)),
    ("/answer", ("Where is the tower?", "The tower stands in Paris, France.")),
    ("/generate", ("Once upon a time",)),
]


@dataclass
class LoadReport:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def percentile(self, endpoint: str, q: float) -> float:
        values = sorted(self.latencies[endpoint])
        return values[min(len(values) - 1, int(q * len(values)))]

    def lines(self) -> list[str]:
        lines = [f"{'endpoint':<12}{'requests':>9}{'p50 s':>9}{'p95 s':>9}"]
        for endpoint, values in sorted(self.latencies.items()):
            lines.append(
                f"{endpoint:<12}{len(values):>9}{statistics.median(values):>9.3f}"
                f"{self.percentile(endpoint, 0.95):>9.3f}"
            )
        lines.append(f"errors: {len(self.errors)}")
        return lines


def _arguments(endpoint: str, base: tuple, models: dict[str, str]) -> tuple:
    if endpoint == "/sentiment":
        return (*base, models["sentiment"])
    if endpoint == "/answer":
        return (*base, models["qa"], 1, 30, False)
    return (*base, models["generation"], "", 16, 0.7, 0.95, 1.1, None)


def run_load(url: str, models: dict[str, str], clients: int = 4, seconds: float = 10.0) -> LoadReport:
    """`clients` threads, each cycling through REQUESTS until `seconds` have passed."""
    from gradio_client import Client

    if urlparse(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError("the load test only targets a server on this machine (loopback)")
    report, lock = LoadReport(), threading.Lock()
    deadline = time.monotonic() + seconds

    def user(offset: int) -> None:
        client = Client(url, verbose=False)
        for endpoint, base in itertools.islice(itertools.cycle(REQUESTS), offset, None):
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            try:
                client.predict(*_arguments(endpoint, base, models), api_name=endpoint)
            except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the test
                with lock:
                    report.errors.append(f"{endpoint}: {error}")
                continue
            with lock:
                report.latencies.setdefault(endpoint, []).append(time.perf_counter() - started)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--sentiment-model", default="")
    parser.add_argument("--qa-model", default="")
    parser.add_argument("--generation-model", default="")
    args = parser.parse_args()
    models = {"sentiment": args.sentiment_model, "qa": args.qa_model, "generation": args.generation_model}
    report = run_load(args.url, models, min(args.clients, 64), min(args.seconds, 600))
    print("\n".join(report.lines()))
    raise SystemExit(1 if report.errors else 0)


if __name__ == "__main__":
    main()
