"""Many visitors at once: 8 streams pressing Generate together against one alone, through the HTTP API of a
running `python app.py`, with the weights packed for oneDNN and without; one stream in bf16 against fp32."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from pathlib import Path

from bench.common import running_app
from bench.generation import best_probes


def make_qwen2(folder: Path) -> Path:
    """A Qwen2-shaped model of about 0.3B parameters (random weights, grouped-query attention) with a
    vocabulary without an end-of-text token, so every request makes exactly the tokens asked for."""
    import transformers
    from tiny_models import MINILM_DIR, save_qwen2

    transformers.utils.logging.set_verbosity_error()
    return save_qwen2(
        folder,
        transformers.AutoTokenizer.from_pretrained(MINILM_DIR),
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=22,
        num_attention_heads=16,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )


CLIENT_PROMPTS = [
    "The film opened with a long scene in the rain and",
    "My favourite recipe for soup is",
    "The match was decided in the last minute when",
    "Tomorrow the weather will be",
    "Our team met the coach after",
    "A good story needs",
    "The music in the second act",
    "She read the script twice before",
]


def streamed_client(
    url: str, prompt: str, model: str, new_tokens: int, ready: threading.Barrier, start: threading.Event
) -> dict:
    """One visitor streaming greedy tokens through `/generate`: when the first text arrived, when it ended.

    It speaks Gradio's HTTP API (`/gradio_api/call/generate`, then its event stream) as a browser would,
    with little CPU of its own: gradio_client spends ~11 ms per streamed piece, which on 2 shared cores
    is taken from the server that a real visitor, on another machine, would not touch. Like a visitor
    with the page open, it has a session before it presses Generate: Gradio builds a session's state
    from every component of the app (tens of milliseconds of the server's time), once per page load."""
    import httpx

    session = uuid.uuid4().hex
    with httpx.Client(base_url=url, timeout=600) as http:
        _generate(http, session, prompt, model, 1)  # the page is open
        ready.wait()
        start.wait()
        started = time.perf_counter()
        first, text = _generate(http, session, prompt, model, new_tokens)
    return {"first_token_s": first - started, "seconds": time.perf_counter() - started, "chars": len(text)}


def _generate(http, session: str, prompt: str, model: str, new_tokens: int) -> tuple[float | None, str]:
    """Press Generate in `session` and read the stream to its end: (when the first text came, the text)."""
    body = {"data": [prompt, model, "", new_tokens, 0, 1, 1, None], "session_hash": session}
    event_id = http.post("gradio_api/call/generate", json=body).raise_for_status().json()["event_id"]
    first, text, event = None, "", ""
    with http.stream("GET", f"gradio_api/call/generate/{event_id}") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "error":
                raise RuntimeError(f"/generate failed: {line}")
            elif line.startswith("data: ") and event in ("generating", "complete"):
                text = json.loads(line.removeprefix("data: "))[0]
                if text and first is None:
                    first = time.perf_counter()
    return first, text


def concurrent_clients(url: str, model: str, clients: int, new_tokens: int) -> dict:
    """`clients` visitors pressing Generate at the same moment, each in its own thread and session."""
    ready, start, results = threading.Barrier(clients + 1), threading.Event(), [None] * clients

    def visitor(index: int) -> None:
        results[index] = streamed_client(
            url, CLIENT_PROMPTS[index % len(CLIENT_PROMPTS)], model, new_tokens, ready, start
        )

    threads = [threading.Thread(target=visitor, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=300)  # every visitor has the page open
    time.sleep(0.5)  # and the server is quiet again
    started = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    firsts = [result["first_token_s"] for result in results]
    return {
        "clients": clients,
        "seconds": seconds,
        "tokens_per_s": clients * new_tokens / seconds,
        "first_token_median_s": statistics.median(firsts),
        "first_token_worst_s": max(firsts),
    }


def one_and_many_clients(folder: Path, clients: int, new_tokens: int, env: dict[str, str]) -> dict:
    """One visitor alone, then `clients` at once, through the Gradio API of an app started with `env`;
    the best of three runs each, since a run on 2 shared cores varies by a fifth."""

    def best(runs: list[dict]) -> dict:
        return max(runs, key=lambda run: run["tokens_per_s"])

    with running_app(env) as (url, _):
        concurrent_clients(url, str(folder), 1, 4)  # loads the model
        alone = best([concurrent_clients(url, str(folder), 1, new_tokens) for _ in range(3)])
        together = best([concurrent_clients(url, str(folder), clients, new_tokens) for _ in range(3)])
    return {"alone": alone, "together": together, "aggregate_speedup": together["tokens_per_s"] / alone["tokens_per_s"]}


def bench_concurrency(work: Path, clients: int, new_tokens: int) -> dict:
    """8 visitors at once against one alone (with the weights packed for oneDNN, as the app runs, and without),
    and single-stream bf16 against fp32."""
    folder = make_qwen2(work / "qwen2-shaped")
    packed = one_and_many_clients(folder, clients, new_tokens, {})
    unpacked = one_and_many_clients(folder, clients, new_tokens, {"LLM_DEMO_PACK_WEIGHTS": "0"})
    dtypes = best_probes(
        [("fp32", "ours", {"LLM_DEMO_DTYPE": "float32"}), ("bf16", "ours", {"LLM_DEMO_DTYPE": "bfloat16"})],
        folder,
        new_tokens // 2,
        repeats=1,
    )
    return {
        "model_parameters": "0.29B",
        "new_tokens": new_tokens,
        **packed,
        "unpacked_together_tokens_per_s": unpacked["together"]["tokens_per_s"],
        "unpacked_aggregate_speedup": unpacked["aggregate_speedup"],
        "packing_speedup_together": packed["together"]["tokens_per_s"] / unpacked["together"]["tokens_per_s"],
        "single_stream_fp32_tokens_per_s": dtypes["fp32"]["tokens_per_s"],
        "single_stream_bf16_tokens_per_s": dtypes["bf16"]["tokens_per_s"],
        "bf16_single_stream_speedup": dtypes["bf16"]["tokens_per_s"] / dtypes["fp32"]["tokens_per_s"],
    }
