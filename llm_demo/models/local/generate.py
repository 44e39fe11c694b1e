"""Generation with the weights here: prompts through the chat template, streams that join the model's running
batch (scheduler.py), batched replies, and per-token log-probabilities behind perplexity and token surprise."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import replace

import torch

from ...errors import ModelError, UserFacingError
from ..types import (
    Batches,
    GenerationSettings,
    Message,
    ScoredText,
    TokenLogProbs,
    Waiting,
    as_messages,
    as_plain_text,
    in_input_order,
    whole_reply,
)
from .batching import default_budget, pad, run_in_batches
from .engine import engine
from .inside import encode_whole
from .loaded import LoadedModel
from .requests import Request

AHEAD = 64  # requests respond() keeps in the engine at once: a full batch, refilled as rows free up


def uses_chat_template(loaded: LoadedModel) -> bool:
    return bool(getattr(loaded.tokenizer, "chat_template", None))


def generate_kwargs(settings: GenerationSettings) -> dict:
    """The settings as transformers' generate() takes them."""
    options = {"max_new_tokens": int(settings.max_new_tokens), "repetition_penalty": float(settings.repetition_penalty)}
    if settings.temperature > 0:
        options.update(do_sample=True, temperature=float(settings.temperature), top_p=float(settings.top_p))
    else:
        options.update(do_sample=False)
    return options


def chat_ids(loaded: LoadedModel, messages: list[Message]) -> list[int]:
    """Token ids of a conversation through the model's chat template, ready for the assistant's next turn."""
    if not uses_chat_template(loaded):
        raise ModelError(
            "no_chat_template", "'{model}' has no chat template: use it for plain completion.", model=loaded.model_id
        )
    encoded = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    return list(encoded["input_ids"])


def prompt_ids(loaded: LoadedModel, prompt: str, system_prompt: str | None = None) -> list[int]:
    """Token ids of the prompt, wrapped in the model's chat template when it has one."""
    if not uses_chat_template(loaded):
        return loaded.tokenizer(prompt)["input_ids"]
    return chat_ids(loaded, as_messages(prompt, system_prompt))


def check_window(loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> GenerationSettings:
    """The settings with max new tokens cut to what the window holds after the prompt; a prompt that
    leaves no room for even one new token is refused."""
    allowed = loaded.cap_new_tokens(settings.max_new_tokens, len(ids))
    if allowed < 1:
        raise _too_long(loaded, len(ids))
    return replace(settings, max_new_tokens=allowed)


def _too_long(loaded: LoadedModel, tokens: int) -> ModelError:
    return ModelError(
        "prompt_too_long",
        "The prompt ({tokens} tokens) fills this model's window of {window} tokens; shorten it.",
        tokens=tokens,
        window=loaded.token_limit,
    )


def fit_to_window(loaded: LoadedModel, prompt: str, settings: GenerationSettings) -> GenerationSettings:
    """The settings a prompt will really run with: the UI compares them to what the user asked, to say so."""
    return check_window(loaded, prompt_ids(loaded, prompt, settings.system_prompt), settings)


def stream_ids(loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> Iterator[str]:
    """Stream a reply to prompt token ids; the one place a streamed generation runs.

    The request joins the model's running batch (scheduler.py), so people generating at the same time share
    each decoding step; closing this iterator takes only this request out of the batch, or out of the line.
    """
    settings = check_window(loaded, ids, settings)
    request = engine().submit(loaded, ids, settings)
    try:
        yield from _replies(loaded.tokenizer, request, settings.stop)
    finally:
        request.cancel()


def _replies(tokenizer, request: Request, stop: tuple[str, ...]) -> Iterator[str]:
    """The reply so far, each time new tokens arrive, ending before the first stop string; while the request
    waits for room in the batch, its place in line (an empty `Waiting` text)."""
    generated: list[int] = []
    shown = text = ""
    for new in request.updates():
        if isinstance(new, int):
            yield Waiting(new)
            continue
        generated += new
        text, stopped = before_stop(tokenizer.decode(generated, skip_special_tokens=True), stop)
        if stopped:
            break
        visible = text[: len(text) - _stop_beginning(text, stop)]  # never flash half a stop string
        if visible != shown and not visible.endswith("\ufffd"):  # nor a character still missing bytes
            shown = visible
            yield visible
    if text != shown:
        yield text


def before_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the first stop string, and whether there was one."""
    found = [text.index(word) for word in stop if word in text]
    return (text[: min(found)], True) if found else (text, False)


def _stop_beginning(text: str, stop: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could be the beginning of a stop string."""
    return max((size for word in stop for size in range(1, len(word)) if text.endswith(word[:size])), default=0)


def conversation_ids(loaded: LoadedModel, messages: list[Message]) -> list[int]:
    """A conversation through the chat template, or as plain text for a model without one."""
    if uses_chat_template(loaded):
        return chat_ids(loaded, messages)
    return loaded.tokenizer(as_plain_text(messages))["input_ids"]


def respond(loaded: LoadedModel, conversations: list[list[Message]], settings: GenerationSettings) -> Batches:
    """Each conversation's reply, whole, through the continuous-batching engine: up to AHEAD requests wait
    there while the first is awaited, so rows that finish are refilled at once and the machine stays busy
    however long the list. Replies come back in input order, one batch each; closing the iterator cancels
    the requests still queued."""
    queued: deque[tuple[int, Request | UserFacingError]] = deque()
    try:
        for index, messages in enumerate(conversations):
            queued.append((index, _submitted(loaded, messages, settings)))
            if len(queued) >= AHEAD:
                yield _collected(loaded, *queued.popleft(), settings.stop)
        while queued:
            yield _collected(loaded, *queued.popleft(), settings.stop)
    finally:
        for _, request in queued:
            if isinstance(request, Request):
                request.cancel()


def _submitted(loaded: LoadedModel, messages: list[Message], settings: GenerationSettings) -> Request | UserFacingError:
    """The request in the engine, or why this conversation cannot run (too long for the window): a row's
    error, so the other rows go on."""
    try:
        ids = conversation_ids(loaded, messages)
        return engine().submit(loaded, ids, check_window(loaded, ids, settings))
    except UserFacingError as error:
        return error


def _collected(
    loaded: LoadedModel, index: int, request: Request | UserFacingError, stop: tuple[str, ...]
) -> tuple[list[int], list[str | UserFacingError]]:
    if isinstance(request, UserFacingError):
        return [index], [request]
    try:
        return [index], [whole_reply(_replies(loaded.tokenizer, request, stop))]
    except UserFacingError as error:
        return [index], [error]
    finally:
        request.cancel()  # a reply cut at a stop string leaves the batch now


def continuation_logprobs(
    loaded: LoadedModel, messages: list[Message], reply_start: str, continuations: list[str]
) -> list[float]:
    """Every continuation after the same conversation and reply so far, scored in one padded forward pass."""
    tokenizer = loaded.tokenizer
    start = conversation_ids(loaded, messages) + tokenizer(reply_start, add_special_tokens=False)["input_ids"]
    tails = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
    longest = len(start) + max(map(len, tails), default=0)
    if longest > loaded.token_limit:
        raise _too_long(loaded, longest)
    input_ids, attention_mask = pad([start + tail for tail in tails], tokenizer.pad_token_id or 0)
    with torch.inference_mode():
        logits = loaded.model(
            input_ids=input_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device)
        ).logits.float()
    logprobs = logits[:, :-1].log_softmax(-1).gather(-1, input_ids[:, 1:, None].to(logits.device)).squeeze(-1)
    first = len(start) - 1  # the logit at position p predicts token p + 1
    return [float(logprobs[row, first : first + len(tail)].sum()) for row, tail in enumerate(tails)]


def generate(
    loaded: LoadedModel, prompts: list[str], settings: GenerationSettings, budget: int | None = None
) -> Batches:
    """Complete many prompts at once (left-padded batches), in input order."""
    token_ids = [prompt_ids(loaded, prompt, settings.system_prompt) for prompt in prompts]
    settings = check_window(loaded, max(token_ids, key=len), settings)  # left-padded batches share one window
    if settings.seed is not None:
        torch.manual_seed(int(settings.seed))

    def process(batch: list[list[int]]) -> list[str]:
        input_ids, attention_mask = pad(batch, loaded.tokenizer.pad_token_id, left=True)
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids.to(loaded.device),
                attention_mask=attention_mask.to(loaded.device),
                pad_token_id=loaded.tokenizer.pad_token_id,
                **generate_kwargs(settings),
            )
        texts = loaded.tokenizer.batch_decode(output[:, input_ids.shape[1] :], skip_special_tokens=True)
        return [before_stop(text, settings.stop)[0] for text in texts]

    budget = budget or default_budget(loaded.device)
    lengths = [len(ids) + settings.max_new_tokens for ids in token_ids]
    return run_in_batches(token_ids, lengths, process, budget)


def token_logprobs(loaded: LoadedModel, texts: list[str], budget: int | None = None) -> Batches:
    """Per-token log-probabilities, batch by batch; texts longer than the window are truncated to it."""
    tokenizer = loaded.tokenizer
    token_ids = tokenizer(texts, truncation=True, max_length=loaded.token_limit)["input_ids"]
    if tokenizer.bos_token_id is not None and not getattr(tokenizer, "add_bos_token", False):
        token_ids = [
            ids if ids[:1] == [tokenizer.bos_token_id] else [tokenizer.bos_token_id] + ids for ids in token_ids
        ]
        token_ids = [ids[: loaded.token_limit] for ids in token_ids]

    def process(batch: list[list[int]]) -> list[TokenLogProbs]:
        input_ids, attention_mask = pad(batch, tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            logits = (
                loaded.model(input_ids=input_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device))
                .logits.float()
                .cpu()
            )
        logprobs = logits[:, :-1].log_softmax(-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
        return [
            TokenLogProbs(
                tokens=tokenizer.convert_ids_to_tokens(ids[1:]), logprobs=logprobs[row, : len(ids) - 1].tolist()
            )
            for row, ids in enumerate(batch)
        ]

    return run_in_batches(token_ids, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device))


def scored_text(loaded: LoadedModel, text: str) -> ScoredText:
    """One whole text's log-probabilities; a text longer than the window is refused, not cut, since cutting it
    would score a different text. The first token is unscored when the model has no BOS to predict it from."""
    encoded = encode_whole(loaded, [text], loaded.token_limit - 1, return_offsets_mapping=True)  # -1: room for BOS
    result = in_input_order(1, token_logprobs(loaded, [text]))[0]
    return ScoredText(result, [tuple(span) for span in encoded["offset_mapping"][0]])
