"""Text generation with causal language models: streamed for the UI, batched for evaluation,
and the per-token log-probabilities behind perplexity."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from ..batching import default_budget, in_input_order, pad, run_in_batches
from ..errors import InputError, ModelError
from ..loading import LoadedModel
from .inputs import check_range
from .scheduler import Request, engine


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 128
    temperature: float = 0.7  # 0 means greedy decoding
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    seed: int | None = None
    system_prompt: str | None = None
    stop: tuple[str, ...] = ()  # the reply ends before the first of these strings

    def checked(self) -> "GenerationSettings":
        """Refuse absurd values with a message rather than letting generate() fail or hang."""
        check_range("Max new tokens", self.max_new_tokens, 1, 4096)
        check_range("Temperature", self.temperature, 0, 5)
        check_range("Top-p", self.top_p, 0.01, 1)
        check_range("Repetition penalty", self.repetition_penalty, 0.5, 3)
        if self.seed is not None:
            check_range("Seed", self.seed, 0, 2**32 - 1)
        if any(not isinstance(word, str) or not word for word in self.stop):
            raise InputError("bad_stop", "Stop strings must be non-empty text.")
        return self

    def generate_kwargs(self) -> dict:
        options = {"max_new_tokens": int(self.max_new_tokens), "repetition_penalty": float(self.repetition_penalty)}
        if self.temperature > 0:
            options.update(do_sample=True, temperature=float(self.temperature), top_p=float(self.top_p))
        else:
            options.update(do_sample=False)
        return options


def uses_chat_template(loaded: LoadedModel) -> bool:
    return bool(getattr(loaded.tokenizer, "chat_template", None))


Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": text}, the OpenAI chat schema


def as_messages(prompt: str, system_prompt: str | None = None) -> list[Message]:
    """One user turn, after the system prompt when there is one."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


def chat_ids(loaded: LoadedModel, messages: list[Message]) -> list[int]:
    """Token ids of a conversation through the model's chat template, ready for the assistant's next turn."""
    if not uses_chat_template(loaded):
        raise ModelError("no_chat_template", "'{model}' has no chat template: use it for plain completion.",
                         model=loaded.model_id)
    encoded = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)
    return list(encoded["input_ids"])


def prompt_ids(loaded: LoadedModel, prompt: str, system_prompt: str | None = None) -> list[int]:
    """Token ids of the prompt, wrapped in the model's chat template when it has one."""
    if not uses_chat_template(loaded):
        return loaded.tokenizer(prompt)["input_ids"]
    return chat_ids(loaded, as_messages(prompt, system_prompt))


def _check_window(loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> GenerationSettings:
    """The settings with max new tokens cut to what the window holds after the prompt; a prompt that
    leaves no room for even one new token is refused."""
    allowed = loaded.cap_new_tokens(settings.max_new_tokens, len(ids))
    if allowed < 1:
        raise ModelError("prompt_too_long", "The prompt ({tokens} tokens) fills this model's window of {window} "
                         "tokens; shorten it.", tokens=len(ids), window=loaded.token_limit)
    return replace(settings, max_new_tokens=allowed)


def fit_to_window(loaded: LoadedModel, prompt: str, settings: GenerationSettings) -> GenerationSettings:
    """The settings a prompt will really run with: the UI compares them to what the user asked, to say so."""
    return _check_window(loaded, prompt_ids(loaded, prompt, settings.system_prompt), settings)


def stream(loaded: LoadedModel, prompt: str, settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
    """Yield the reply so far each time new tokens arrive; closing the iterator stops generation."""
    settings = settings.checked()
    return stream_ids(loaded, prompt_ids(loaded, prompt, settings.system_prompt), settings)


def stream_chat(loaded: LoadedModel, messages: list[Message],
                settings: GenerationSettings = GenerationSettings()) -> Iterator[str]:
    """Stream the assistant's next turn of a conversation (`settings.system_prompt` is not used: the
    conversation carries its own system message)."""
    return stream_ids(loaded, chat_ids(loaded, messages), settings.checked())


def stream_ids(loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> Iterator[str]:
    """Stream a reply to prompt token ids; the one place a streamed generation runs.

    The request joins the model's running batch (tasks/scheduler.py), so people generating at the same
    time share each decoding step; closing this iterator takes only this request out of the batch.
    """
    settings = _check_window(loaded, ids, settings)
    request = engine().submit(loaded, ids, settings)
    try:
        yield from _replies(loaded.tokenizer, request, settings.stop)
    finally:
        request.cancel()


def _replies(tokenizer, request: Request, stop: tuple[str, ...]) -> Iterator[str]:
    """The reply so far, each time new tokens arrive, ending before the first stop string."""
    generated: list[int] = []
    shown = text = ""
    while (new := request.new_tokens()) is not None:
        generated += new
        text, stopped = before_stop(tokenizer.decode(generated, skip_special_tokens=True), stop)
        if stopped:
            break
        visible = text[:len(text) - _stop_beginning(text, stop)]  # never flash half a stop string
        if visible != shown and not visible.endswith("\ufffd"):  # nor a character still missing bytes
            shown = visible
            yield visible
    if text != shown:
        yield text


def before_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the first stop string, and whether there was one."""
    found = [text.index(word) for word in stop if word in text]
    return (text[:min(found)], True) if found else (text, False)


def _stop_beginning(text: str, stop: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could be the beginning of a stop string."""
    return max((size for word in stop for size in range(1, len(word)) if text.endswith(word[:size])), default=0)


def generate(loaded: LoadedModel, prompts: list[str], settings: GenerationSettings = GenerationSettings(),
             budget: int | None = None) -> list[str]:
    """Complete many prompts at once (left-padded batches), in input order."""
    settings = settings.checked()
    token_ids = [prompt_ids(loaded, prompt, settings.system_prompt) for prompt in prompts]
    settings = _check_window(loaded, max(token_ids, key=len), settings)  # left-padded batches share one window
    if settings.seed is not None:
        torch.manual_seed(int(settings.seed))

    def process(batch: list[list[int]]) -> list[str]:
        input_ids, attention_mask = pad(batch, loaded.tokenizer.pad_token_id, left=True)
        with torch.inference_mode():
            output = loaded.model.generate(input_ids=input_ids.to(loaded.device),
                                           attention_mask=attention_mask.to(loaded.device),
                                           pad_token_id=loaded.tokenizer.pad_token_id, **settings.generate_kwargs())
        texts = loaded.tokenizer.batch_decode(output[:, input_ids.shape[1]:], skip_special_tokens=True)
        return [before_stop(text, settings.stop)[0] for text in texts]

    budget = budget or default_budget(loaded.device)
    lengths = [len(ids) + settings.max_new_tokens for ids in token_ids]
    return in_input_order(len(prompts), run_in_batches(token_ids, lengths, process, budget))


# --- how probable a text is under the model ------------------------------------------------------

@dataclass(frozen=True)
class TokenLogProbs:
    """log p(token | tokens before it) for every token after the first."""

    tokens: list[str]
    logprobs: list[float]

    @property
    def total(self) -> float:
        return sum(self.logprobs)


def iter_token_logprobs(loaded: LoadedModel, texts: list[str],
                        budget: int | None = None) -> Iterator[tuple[list[int], list[TokenLogProbs]]]:
    """Per-token log-probabilities, batch by batch; texts longer than the window are truncated to it."""
    tokenizer = loaded.tokenizer
    token_ids = tokenizer(texts, truncation=True, max_length=loaded.token_limit)["input_ids"]
    if tokenizer.bos_token_id is not None and not getattr(tokenizer, "add_bos_token", False):
        token_ids = [ids if ids[:1] == [tokenizer.bos_token_id] else [tokenizer.bos_token_id] + ids
                     for ids in token_ids]
        token_ids = [ids[:loaded.token_limit] for ids in token_ids]

    def process(batch: list[list[int]]) -> list[TokenLogProbs]:
        input_ids, attention_mask = pad(batch, tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            logits = loaded.model(input_ids=input_ids.to(loaded.device),
                                  attention_mask=attention_mask.to(loaded.device)).logits.float().cpu()
        logprobs = logits[:, :-1].log_softmax(-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
        return [TokenLogProbs(tokens=tokenizer.convert_ids_to_tokens(ids[1:]),
                              logprobs=logprobs[row, :len(ids) - 1].tolist()) for row, ids in enumerate(batch)]

    return run_in_batches(token_ids, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device))


def token_logprobs(loaded: LoadedModel, texts: list[str], budget: int | None = None) -> list[TokenLogProbs]:
    return in_input_order(len(texts), iter_token_logprobs(loaded, texts, budget))


def perplexity(results: list[TokenLogProbs]) -> float:
    """Token-weighted perplexity over texts: exp of the mean negative log-likelihood per token."""
    count = sum(len(result.logprobs) for result in results)
    if count == 0:
        raise ModelError("too_short", "The texts are too short to measure perplexity (one token each).")
    return float(torch.tensor(-sum(result.total for result in results) / count).exp())
