"""One small function per endpoint and task, for models a server runs. Each builds a request and reads
the answer into the task's own result type; client.py does the rest.

Translation, zero-shot classification and QA prompt an instruct model through chat, so one large LLM
behind vLLM can serve every tab; their answers are generated, not read off a task head. The task
dataclasses are imported inside the functions: the task modules import this one to dispatch to it.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from typing import Any

from .client import RemoteModel, call, gather, map_concurrently, stream_text

CLASSIFY_CHUNK = 32  # texts per /classify request: the server batches them itself
LOGPROBS_CHUNK = 8  # prompts per /v1/completions request when scoring texts
NO_ANSWER = "NO ANSWER"

Batches = Iterator[tuple[list[int], list[Any]]]


# --- generation ----------------------------------------------------------------------------------

def _sampling(settings) -> dict[str, Any]:
    """GenerationSettings as OpenAI parameters; repetition_penalty is vLLM's extension of the schema."""
    options: dict[str, Any] = {"max_tokens": int(settings.max_new_tokens), "temperature": float(settings.temperature),
                               "extra_body": {"repetition_penalty": float(settings.repetition_penalty)}}
    if settings.temperature > 0:
        options["top_p"] = float(settings.top_p)
    if settings.seed is not None:
        options["seed"] = int(settings.seed)
    return options


def stream_chat(model: RemoteModel, messages: list[dict[str, str]], settings) -> Iterator[str]:
    """The assistant's next turn, streamed from /v1/chat/completions."""
    return stream_text(model, lambda client: client.chat.completions.create(
        model=model.model_id, messages=messages, stream=True, **_sampling(settings)),
        lambda choice: choice.delta.content)


def stream_completion(model: RemoteModel, prompt: str, settings) -> Iterator[str]:
    """Plain completion of a prompt, streamed from /v1/completions."""
    return stream_text(model, lambda client: client.completions.create(
        model=model.model_id, prompt=prompt, stream=True, **_sampling(settings)), lambda choice: choice.text)


def stream(model: RemoteModel, prompt: str, settings) -> Iterator[str]:
    """Chat models get the prompt as a user turn (after the system prompt); others continue it."""
    from ..tasks.generation import as_messages

    if model.chat:
        return stream_chat(model, as_messages(prompt, settings.system_prompt), settings)
    return stream_completion(model, prompt, settings)


def count_tokens(model: RemoteModel, messages: list[dict[str, str]] | None = None, text: str | None = None) -> int:
    """Tokens as the server's tokenizer counts them (vLLM's /tokenize, beside /v1): a conversation through
    the chat template, ready for the reply, or a text alone, without special tokens."""
    body = ({"model": model.model_id, "messages": messages, "add_generation_prompt": True} if messages is not None
            else {"model": model.model_id, "prompt": text, "add_special_tokens": False})
    answer = call(model.endpoint, lambda client: client.post(f"{model.endpoint.root}/tokenize", cast_to=object,
                                                             body=body), model.model_id, "counting tokens")
    return int(answer["count"])


def generate(model: RemoteModel, prompts: list[str], settings) -> list[str]:
    """Many prompts at once, concurrently; each reply whole."""
    def work(chunk: list[str]) -> list[str]:
        return [_last(stream(model, prompt, settings)) for prompt in chunk]

    return gather(len(prompts), map_concurrently(model.endpoint, prompts, work, 1))


def _last(texts: Iterator[str]) -> str:
    text = ""
    for text in texts:
        pass
    return text


def iter_token_logprobs(model: RemoteModel, texts: list[str]) -> Batches:
    """log p(token | tokens before it) from /v1/completions with echo and max_tokens 0: the prompt comes
    back scored, nothing is generated. Texts longer than the server's window are cut to it (vLLM's
    truncate_prompt_tokens). The server tokenizes as its tokenizer does: no BOS is added where the
    tokenizer adds none, so the first token has nothing to be predicted from and is not scored."""
    def work(chunk: list[str]) -> list:
        return [_token_logprobs(scored) for scored in _echo(model, chunk, truncate=True)]

    return map_concurrently(model.endpoint, texts, work, LOGPROBS_CHUNK)


def _echo(model: RemoteModel, texts: list[str], truncate: bool) -> list[Any]:
    """The server's scores of each text's tokens (tokens, token_logprobs, text_offset), in input order."""
    extra = {"truncate_prompt_tokens": model.token_limit} if truncate else {}
    answer = call(model.endpoint, lambda client: client.completions.create(
        model=model.model_id, prompt=texts, echo=True, logprobs=0, max_tokens=0, temperature=0, extra_body=extra),
        model.model_id, "scoring text")
    return [choice.logprobs for choice in sorted(answer.choices, key=lambda choice: choice.index)]


def _token_logprobs(scored: Any):
    from ..tasks.generation import TokenLogProbs

    return TokenLogProbs(tokens=scored.tokens[1:], logprobs=[float(value) for value in scored.token_logprobs[1:]])


def scored_text(model: RemoteModel, text: str) -> tuple[Any, list[tuple[int, int]]]:
    """One whole text's log-probabilities and each token's character span (from vLLM's text_offset), for
    token surprise; a text longer than the window is refused by the server rather than cut."""
    scored = _echo(model, [text], truncate=False)[0]
    starts = list(scored.text_offset)
    return _token_logprobs(scored), list(zip(starts, starts[1:] + [len(text)]))


# --- classification ------------------------------------------------------------------------------

def _ranked(model: RemoteModel, row: dict[str, Any]):
    from ..tasks.classification import Classification, LabelScore

    probabilities = [float(p) for p in row["probs"]]
    top = max(range(len(probabilities)), key=probabilities.__getitem__)
    names = list(model.labels) or [f"LABEL_{index}" for index in range(len(probabilities))]
    names[top] = str(row.get("label") or names[top])  # the server names the top class from the model's config
    order = sorted(range(len(probabilities)), key=lambda index: -probabilities[index])
    return Classification([LabelScore(names[index], probabilities[index]) for index in order])


def iter_classify(model: RemoteModel, texts: list[str]) -> Batches:
    """A sequence classifier served by vLLM (`--runner pooling`): its own /classify route, beside /v1."""
    def work(chunk: list[str]) -> list:
        answer = call(model.endpoint, lambda client: client.post(
            f"{model.endpoint.root}/classify", cast_to=object,
            body={"model": model.model_id, "input": chunk, "truncate_prompt_tokens": model.token_limit}),
            model.model_id, "text classification")
        return [_ranked(model, row) for row in sorted(answer["data"], key=lambda row: row["index"])]

    return map_concurrently(model.endpoint, texts, work, CLASSIFY_CHUNK)


def classify(model: RemoteModel, texts: list[str]) -> list:
    return gather(len(texts), iter_classify(model, texts))


# --- answers an instruct model writes ------------------------------------------------------------

def ask(model: RemoteModel, prompt: str, max_tokens: int, what: str) -> tuple[str, float]:
    """One greedy chat turn: the reply, and its probability under the model (1.0 when the server gives no
    log-probabilities)."""
    answer = call(model.endpoint, lambda client: client.chat.completions.create(
        model=model.model_id, messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
        temperature=0, logprobs=True), model.model_id, what)
    choice = answer.choices[0]
    tokens = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
    return (choice.message.content or "").strip(), math.exp(sum(token.logprob for token in tokens))


def _labels_in(reply: str, labels: list[str]) -> list[str]:
    """The labels a reply names, in the order it names them."""
    lowered = reply.casefold()
    found = [(lowered.find(label.casefold()), label) for label in labels if label.casefold() in lowered]
    return [label for _, label in sorted(found)]


def _zero_shot_one(model: RemoteModel, text: str, labels: list[str], multi_label: bool):
    from ..tasks.classification import Classification, LabelScore

    listed = ", ".join(labels)
    if multi_label:
        prompt = (f"Which of these labels apply to the text below: {listed}?\nReply with every label that applies, "
                  f"separated by commas, or 'none'.\n\nText: {text}")
    else:
        prompt = f"Which one of these labels fits the text below best: {listed}?\nReply with the label only.\n\nText: {text}"
    reply, probability = ask(model, prompt, 16 * len(labels), "zero-shot classification")
    chosen = _labels_in(reply, labels)
    if not multi_label:
        chosen = chosen[:1] or difflib.get_close_matches(reply, labels, n=1, cutoff=0.0)[:1] or labels[:1]
    rest = [label for label in labels if label not in chosen]
    return Classification([LabelScore(label, probability) for label in chosen] + [LabelScore(label, 0.0)
                                                                                   for label in rest])


def iter_zero_shot(model: RemoteModel, texts: list[str], labels: list[str], multi_label: bool = False) -> Batches:
    """The instruct model picks among the user's labels; the picked label's score is the reply's probability."""
    return map_concurrently(model.endpoint, texts, lambda chunk: [_zero_shot_one(model, text, labels, multi_label)
                                                                  for text in chunk], 1)


def zero_shot(model: RemoteModel, texts: list[str], labels: list[str], multi_label: bool = False) -> list:
    return gather(len(texts), iter_zero_shot(model, texts, labels, multi_label))


def _translate_one(model: RemoteModel, text: str, settings) -> str:
    from ..errors import InputError
    from ..tasks.translation import split_sentences

    if not settings.target_lang:
        raise InputError("remote_target_language", "Say which language to translate into (the target language, "
                         "for example English).")
    source = f" from {settings.source_lang}" if settings.source_lang else ""
    prompt = (f"Translate the text below{source} into {settings.target_lang}. Keep the line breaks. Reply with the "
              f"translation only.\n\n{text}")
    sentences = sum(len(line) for line in split_sentences(text)) or 1
    return ask(model, prompt, min(settings.max_new_tokens * sentences, model.token_limit // 2), "translation")[0]


def iter_translate(model: RemoteModel, texts: list[str], settings) -> Batches:
    """Whole texts, one request each: an instruct model needs no sentence splitting to fit a window."""
    return map_concurrently(model.endpoint, texts, lambda chunk: [_translate_one(model, text, settings)
                                                                  for text in chunk], 1)


def translate(model: RemoteModel, texts: list[str], settings) -> list[str]:
    return gather(len(texts), iter_translate(model, texts, settings))


def _answer_one(model: RemoteModel, question: str, context: str, settings) -> list:
    from ..tasks.qa import Answer

    may_be_absent = f" If the context does not hold the answer, reply {NO_ANSWER}." if settings.allow_no_answer else ""
    prompt = ("Answer the question from the context only. Copy the answer from the context word for word, as short as "
              f"possible.{may_be_absent}\n\nContext: {context}\n\nQuestion: {question}")
    reply, probability = ask(model, prompt, settings.max_answer_tokens, "question answering")
    reply = reply.strip().strip('"“”').strip()
    if not reply or reply.upper().rstrip(".") == NO_ANSWER:
        return [Answer("", probability, 0, 0)]
    start = context.casefold().find(reply.casefold())
    if start < 0:  # an answer not copied from the context is shown as written, with no place in it
        return [Answer(reply, probability, 0, 0)]
    return [Answer(context[start:start + len(reply)], probability, start, start + len(reply))]


def iter_answer(model: RemoteModel, questions: list[str], contexts: list[str], settings) -> Batches:
    """One answer per question, generated by an instruct model and placed in the context where it was copied."""
    pairs = list(zip(questions, contexts))
    return map_concurrently(model.endpoint, pairs, lambda chunk: [_answer_one(model, question, context, settings)
                                                                  for question, context in chunk], 1)


def answer(model: RemoteModel, questions: list[str], contexts: list[str], settings) -> list[list]:
    return gather(len(questions), iter_answer(model, questions, contexts, settings))
