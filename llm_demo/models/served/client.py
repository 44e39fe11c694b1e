"""What every request to a model server shares: the client (the `openai` package), a cap on concurrent
requests per server, timeouts, retries with backoff, and server errors turned into messages a user can
act on. After lm-evaluation-harness's TemplateAPI: this machinery once, the endpoints as small functions."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

from ...errors import ModelError, UserFacingError
from ...registry import ModelEntry
from ...settings import get_settings

DEFAULT_CONCURRENCY = 16  # requests in flight per server when models.yaml does not say
DEFAULT_WINDOW = 2048  # tokens, for servers that do not report their max_model_len

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Endpoint:
    """Where a server is and how to talk to it; the key itself is read from the environment at request time."""

    base_url: str  # the OpenAI base URL, ending in /v1
    api_key_env: str | None = None
    max_concurrency: int = DEFAULT_CONCURRENCY

    @classmethod
    def of(cls, entry: ModelEntry) -> Endpoint:
        return cls(
            entry.endpoint.rstrip("/"),
            entry.option("api_key_env"),
            int(entry.option("max_concurrency", DEFAULT_CONCURRENCY)),
        )

    @property
    def root(self) -> str:
        """The server's root, where vLLM's own routes (/classify, /health) live beside /v1."""
        return self.base_url.removesuffix("/v1")

    def api_key(self) -> str:
        if not self.api_key_env:
            return "EMPTY"  # servers without keys ignore it; the client insists on having one
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise ModelError(
                "endpoint_key_missing",
                "The model server at {endpoint} needs a key in the environment variable {env}, which is not set.",
                endpoint=self.base_url,
                env=self.api_key_env,
            )
        return key

    def client(self) -> Any:
        settings = get_settings()
        return _client(self.base_url, self.api_key(), settings.remote_timeout, settings.remote_retries)

    def slot(self) -> threading.BoundedSemaphore:
        """The cap on requests in flight to this server, shared by every tab, user and evaluation."""
        return _slots(self.base_url, self.max_concurrency)


@functools.lru_cache(maxsize=64)
def _client(base_url: str, api_key: str, timeout: int, retries: int) -> Any:
    """One client (one connection pool) per server and key; the client retries 408/409/429/5xx and lost
    connections itself, with exponential backoff."""
    import openai

    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries)


@functools.lru_cache(maxsize=64)
def _slots(base_url: str, count: int) -> threading.BoundedSemaphore:
    return threading.BoundedSemaphore(count)


def served_models(endpoint: Endpoint) -> dict[str, Any]:
    """The models a server serves, by name (GET /v1/models)."""
    return {model.id: model for model in call(endpoint, lambda client: client.models.list().data)}


def unknown_model(endpoint: Endpoint, model: str, served: dict[str, Any]) -> ModelError:
    return ModelError(
        "unknown_served_model",
        "The server at {endpoint} does not serve '{model}'. It serves: {served}.",
        endpoint=endpoint.base_url,
        model=model,
        served=", ".join(served) or "nothing",
    )


# --- errors --------------------------------------------------------------------------------------


def _server_message(error: Exception) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict) and (body.get("message") or body.get("detail")):  # detail: FastAPI's own errors
            return str(body.get("message") or body.get("detail"))[:300]
    return str(getattr(error, "message", None) or error)[:300]


def readable_error(
    error: Exception, endpoint: Endpoint, model: str | None = None, what: str = "this task"
) -> ModelError:
    """Turn a failed request into one sentence a user can act on."""
    import openai

    url = endpoint.base_url
    if isinstance(error, openai.APITimeoutError):
        return ModelError(
            "endpoint_timeout",
            "The model server at {endpoint} did not answer within {seconds} s.",
            endpoint=url,
            seconds=get_settings().remote_timeout,
        )
    if isinstance(error, openai.APIConnectionError):
        return ModelError(
            "endpoint_unreachable",
            "Cannot reach the model server at {endpoint}. Is it running, and is the address right?",
            endpoint=url,
        )
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        if endpoint.api_key_env:
            return ModelError(
                "endpoint_unauthorised",
                "The model server at {endpoint} refused the key in {env}.",
                endpoint=url,
                env=endpoint.api_key_env,
            )
        return ModelError(
            "endpoint_needs_key",
            "The model server at {endpoint} needs a key: name the environment "
            "variable that holds it as api_key_env in models.yaml.",
            endpoint=url,
        )
    reason = _server_message(error)
    status = getattr(error, "status_code", None)
    if "chat template" in reason.lower():
        return ModelError(
            "no_chat_template", "'{model}' has no chat template: use it for plain completion.", model=model or url
        )
    if status == 404 and model and "does not exist" in reason:
        try:
            return unknown_model(endpoint, model, served_models(endpoint))
        except ModelError as listing_failed:
            return listing_failed
    if status in (400, 404, 405, 501) and ("not support" in reason.lower() or reason.strip() == "Not Found"):
        return ModelError(
            "endpoint_wrong_task",
            "'{model}' on {endpoint} cannot do {what}: {reason}",
            model=model or "?",
            endpoint=url,
            what=what,
            reason=reason,
        )
    if status is not None and status < 500:
        return ModelError(
            "endpoint_rejected",
            "The model server at {endpoint} refused the request: {reason}",
            endpoint=url,
            reason=reason,
        )
    return ModelError(
        "endpoint_failed",
        "The model server at {endpoint} failed ({status}): {reason}",
        endpoint=url,
        status=status or type(error).__name__,
        reason=reason,
    )


# --- requests ------------------------------------------------------------------------------------


def call(
    endpoint: Endpoint, request: Callable[[Any], Result], model: str | None = None, what: str = "this task"
) -> Result:
    """One request within the server's cap; failures (after the client's retries) become ModelErrors."""
    import openai

    with endpoint.slot():
        try:
            return request(endpoint.client())
        except openai.OpenAIError as error:
            raise readable_error(error, endpoint, model, what) from error


def stream_text(
    endpoint: Endpoint,
    model: str,
    open_stream: Callable[[Any], Any],
    piece_of: Callable[[Any], str | None],
    what: str = "text generation",
) -> Iterator[str]:
    """Yield the reply so far as pieces arrive. Closing the iterator (Stop) closes the connection, and
    vLLM aborts a request whose client went away."""
    import openai

    with endpoint.slot():
        try:
            stream = open_stream(endpoint.client())
        except openai.OpenAIError as error:
            raise readable_error(error, endpoint, model, what) from error
        text = ""
        try:
            for chunk in stream:
                piece = piece_of(chunk.choices[0]) if chunk.choices else None
                if piece:
                    text += piece
                    yield text
        except openai.OpenAIError as error:
            raise readable_error(error, endpoint, model, what) from error
        finally:
            stream.close()


def map_concurrently(
    endpoint: Endpoint, items: Sequence[Item], work: Callable[[list[Item]], list[Result]], chunk_size: int
) -> Iterator[tuple[list[int], list[Result | UserFacingError]]]:
    """Send items in chunks, up to the server's cap at once, yielding (indices, results) as chunks finish.

    A chunk that still fails after the client's retries comes back as its error in place of each result,
    so an evaluation keeps the rest. Once `max_concurrency` chunks in a row found the server unreachable,
    the rows left are failed with that error without being sent: a dead server does not cost retries for
    every row. Closing the iterator (cancel) drops the chunks not yet sent.
    """
    chunks = iter(
        [list(range(start, min(start + chunk_size, len(items)))) for start in range(0, len(items), chunk_size)]
    )
    pool = ThreadPoolExecutor(max_workers=endpoint.max_concurrency, thread_name_prefix="llm_demo-remote")
    pending: dict[Future, list[int]] = {}
    unreachable_in_a_row, dead_server = 0, None
    try:
        while True:
            while dead_server is None and len(pending) < 2 * endpoint.max_concurrency:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                pending[pool.submit(work, [items[i] for i in chunk])] = chunk
            if dead_server is not None:
                for chunk in chunks:
                    yield chunk, [dead_server] * len(chunk)
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                chunk = pending.pop(future)
                error = future.exception()
                if error is None:
                    unreachable_in_a_row = 0
                    yield chunk, future.result()
                    continue
                if not isinstance(error, UserFacingError):
                    raise error
                unreachable = getattr(error, "key", "") in ("endpoint_unreachable", "endpoint_timeout")
                unreachable_in_a_row = unreachable_in_a_row + 1 if unreachable else 0
                if unreachable_in_a_row >= endpoint.max_concurrency:
                    dead_server = error
                yield chunk, [error] * len(chunk)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
