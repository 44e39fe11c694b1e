"""ServedModel: a model an OpenAI-compatible server runs (vLLM, SGLang, TGI, llama.cpp, Ollama...). Each
operation builds a request and reads the answer into the shared result types; client.py does the rest.

Translation, zero-shot classification and QA prompt an instruct model through chat, so one large LLM behind
vLLM can serve every tab; their answers are generated, not read off a task head.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import InputError, ModelError
from ...registry import ModelEntry
from ...text import split_sentences
from ..base import Model
from ..types import (
    DEFAULT_HYPOTHESIS,
    Answer,
    Batches,
    Classification,
    GenerationSettings,
    LabelScore,
    Message,
    QASettings,
    ScoredText,
    TokenLogProbs,
    TranslationSettings,
    as_messages,
    as_plain_text,
)
from .client import DEFAULT_WINDOW, Endpoint, call, map_concurrently, served_models, stream_text, unknown_model

CLASSIFY_CHUNK = 32  # texts per /classify request: the server batches them itself
LOGPROBS_CHUNK = 8  # prompts per /v1/completions request when scoring texts
NO_ANSWER = "NO ANSWER"
ANSWERING_KINDS = ("seq2seq", "question-answering")  # tasks a server's instruct model answers by writing


def connect(entry: ModelEntry, kind: str) -> ServedModel:
    """Reach the server and check that it serves the entry's model; its window is the server's max_model_len."""
    endpoint = Endpoint.of(entry)
    started = time.perf_counter()
    served = served_models(endpoint)
    if entry.model not in served:
        raise unknown_model(endpoint, entry.model, served)
    window = (served[entry.model].model_extra or {}).get("max_model_len") or DEFAULT_WINDOW
    return ServedModel(
        model_id=entry.model,
        kind=kind,
        endpoint=endpoint,
        token_limit=int(window),
        load_seconds=time.perf_counter() - started,
        chat=bool(entry.option("chat", True)),
        zero_shot_by_prompt=bool(entry.option("zero_shot")),
        label_list=tuple(entry.option("labels") or ()),
    )


def _sampling(settings: GenerationSettings) -> dict[str, Any]:
    """GenerationSettings as OpenAI parameters; repetition_penalty is vLLM's extension of the schema."""
    options: dict[str, Any] = {
        "max_tokens": int(settings.max_new_tokens),
        "temperature": float(settings.temperature),
        "extra_body": {"repetition_penalty": float(settings.repetition_penalty)},
    }
    if settings.temperature > 0:
        options["top_p"] = float(settings.top_p)
    if settings.seed is not None:
        options["seed"] = int(settings.seed)
    return options


def _labels_in(reply: str, labels: list[str]) -> list[str]:
    """The labels a reply names, in the order it names them."""
    lowered = reply.casefold()
    found = [(lowered.find(label.casefold()), label) for label in labels if label.casefold() in lowered]
    return [label for _, label in sorted(found)]


@dataclass(frozen=True)
class ServedModel(Model):
    """A model a server runs, reached through its OpenAI-compatible API (and vLLM's routes beside it)."""

    model_id: str  # the name the server serves it under
    kind: str  # what the task asked for
    endpoint: Endpoint
    token_limit: int  # the server's max_model_len
    load_seconds: float  # time to reach the server and find the model there
    chat: bool = True  # generation through /v1/chat/completions (False: /v1/completions, plain completion)
    zero_shot_by_prompt: bool = False  # classification by prompting an instruct model with the user's labels
    label_list: tuple[str, ...] = ()  # class names in id order (models.yaml `labels`); /classify names only the top

    # --- what it is

    @property
    def placement(self) -> str:
        return self.endpoint.base_url

    @property
    def generates_answers(self) -> bool:
        """Translation, QA and zero-shot on a server are written by an instruct model from a prompt."""
        return self.kind in ANSWERING_KINDS or self.zero_shot_by_prompt

    def status(self) -> tuple[str, dict[str, object]]:
        key = "common.generated_by" if self.generates_answers else "common.served_by"
        return key, {"endpoint": self.endpoint.base_url}

    def describe(self) -> str:
        return f"{self.model_id} · {self.endpoint.base_url} · window {self.token_limit} tokens"

    @property
    def labels(self) -> list[str]:
        return list(self.label_list)

    @property
    def can_zero_shot(self) -> bool:
        return self.zero_shot_by_prompt

    @property
    def has_chat_template(self) -> bool:
        return self.chat

    def _post(self, route: str, body: dict[str, Any], what: str) -> Any:
        """A request to one of vLLM's own routes, which live beside /v1 at the server's root."""
        return call(
            self.endpoint,
            lambda client: client.post(f"{self.endpoint.root}/{route}", cast_to=object, body=body),
            self.model_id,
            what,
        )

    # --- generation

    def stream_chat(self, messages: list[Message], settings: GenerationSettings) -> Iterator[str]:
        """The assistant's next turn, streamed from /v1/chat/completions."""
        if not self.chat:
            raise ModelError(
                "no_chat_template", "'{model}' has no chat template: use it for plain completion.", model=self.model_id
            )
        return stream_text(
            self.endpoint,
            self.model_id,
            lambda client: client.chat.completions.create(
                model=self.model_id, messages=messages, stream=True, **_sampling(settings)
            ),
            lambda choice: choice.delta.content,
        )

    def _stream_completion(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        """Plain completion of a prompt, streamed from /v1/completions."""
        return stream_text(
            self.endpoint,
            self.model_id,
            lambda client: client.completions.create(
                model=self.model_id, prompt=prompt, stream=True, **_sampling(settings)
            ),
            lambda choice: choice.text,
        )

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        """Chat models get the prompt as a user turn (after the system prompt); others continue it. The server
        counts the prompt itself and refuses one that does not fit, so fit_to_window leaves settings as asked."""
        if self.chat:
            return self.stream_chat(as_messages(prompt, settings.system_prompt), settings)
        return self._stream_completion(prompt, settings)

    def generate(self, prompts: list[str], settings: GenerationSettings, budget: int | None = None) -> Batches:
        """Many prompts at once, concurrently, as `stream` would answer each: a plain completion continues the
        prompt alone."""
        system = settings.system_prompt if self.chat else None
        return self.respond([as_messages(prompt, system) for prompt in prompts], settings)

    def _reply(self, messages: list[Message], settings: GenerationSettings) -> str:
        """A conversation's next turn in one answer, not streamed: nobody reads it as it comes, and a stream
        costs an event per token on both sides (more than twice the time for a tiny model on a CPU server)."""

        def request(client):
            if self.chat:
                return client.chat.completions.create(model=self.model_id, messages=messages, **_sampling(settings))
            return client.completions.create(model=self.model_id, prompt=as_plain_text(messages), **_sampling(settings))

        choice = call(self.endpoint, request, self.model_id, "text generation").choices[0]
        return (choice.message.content if self.chat else choice.text) or ""

    def respond(self, conversations: list[list[Message]], settings: GenerationSettings) -> Batches:
        """One request per conversation, up to the server's cap at once (its engine batches them)."""
        return map_concurrently(
            self.endpoint, conversations, lambda chunk: [self._reply(messages, settings) for messages in chunk], 1
        )

    def _tokens(self, body: dict[str, Any]) -> list[int]:
        """Token ids as the server's tokenizer makes them (vLLM's /tokenize)."""
        return [
            int(token) for token in self._post("tokenize", {"model": self.model_id, **body}, "scoring text")["tokens"]
        ]

    def continuation_logprobs(self, messages: list[Message], reply_start: str, continuations: list[str]) -> list[float]:
        """The conversation and reply so far as the server's token ids, each continuation after them, scored in
        one /v1/completions request with echo (prompts as token ids, so the chat template is the server's)."""
        if self.chat:
            start = self._tokens({"messages": messages, "add_generation_prompt": True})
        else:
            start = self._tokens({"prompt": as_plain_text(messages)})
        start += self._tokens({"prompt": reply_start, "add_special_tokens": False})
        tails = [self._tokens({"prompt": text, "add_special_tokens": False}) for text in continuations]
        answer = call(
            self.endpoint,
            lambda client: client.completions.create(
                model=self.model_id,
                prompt=[start + tail for tail in tails],
                echo=True,
                logprobs=0,
                max_tokens=0,
                temperature=0,
            ),
            self.model_id,
            "scoring text",
        )
        scored = [choice.logprobs.token_logprobs for choice in sorted(answer.choices, key=lambda c: c.index)]
        return [math.fsum(float(value) for value in row[len(start) :]) for row in scored]

    def _count(self, body: dict[str, Any]) -> int:
        """Tokens as the server's tokenizer counts them (vLLM's /tokenize)."""
        return int(self._post("tokenize", {"model": self.model_id, **body}, "counting tokens")["count"])

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return self._count({"messages": messages, "add_generation_prompt": True})

    def count_tokens(self, text: str) -> int:
        return self._count({"prompt": text, "add_special_tokens": False})

    # --- scoring text

    def _echo(self, texts: list[str], truncate: bool) -> list[Any]:
        """The server's scores of each text's tokens (tokens, token_logprobs, text_offset), in input order:
        /v1/completions with echo and max_tokens 0 scores the prompt and generates nothing."""
        extra = {"truncate_prompt_tokens": self.token_limit} if truncate else {}
        answer = call(
            self.endpoint,
            lambda client: client.completions.create(
                model=self.model_id, prompt=texts, echo=True, logprobs=0, max_tokens=0, temperature=0, extra_body=extra
            ),
            self.model_id,
            "scoring text",
        )
        return [choice.logprobs for choice in sorted(answer.choices, key=lambda choice: choice.index)]

    @staticmethod
    def _token_logprobs(scored: Any) -> TokenLogProbs:
        """The server tokenizes as its tokenizer does: no BOS is added where the tokenizer adds none, so the
        first token has nothing to be predicted from and is not scored."""
        return TokenLogProbs(tokens=scored.tokens[1:], logprobs=[float(value) for value in scored.token_logprobs[1:]])

    def token_logprobs(self, texts: list[str], budget: int | None = None) -> Batches:
        """Texts longer than the server's window are cut to it (vLLM's truncate_prompt_tokens)."""
        return map_concurrently(
            self.endpoint,
            texts,
            lambda chunk: [self._token_logprobs(scored) for scored in self._echo(chunk, truncate=True)],
            LOGPROBS_CHUNK,
        )

    def scored_text(self, text: str) -> ScoredText:
        """A text longer than the window is refused by the server rather than cut."""
        scored = self._echo([text], truncate=False)[0]
        starts = list(scored.text_offset)
        return ScoredText(self._token_logprobs(scored), list(zip(starts, starts[1:] + [len(text)])))

    # --- classification

    def _ranked(self, row: dict[str, Any]) -> Classification:
        probabilities = [float(p) for p in row["probs"]]
        top = max(range(len(probabilities)), key=probabilities.__getitem__)
        names = list(self.label_list) or [f"LABEL_{index}" for index in range(len(probabilities))]
        names[top] = str(row.get("label") or names[top])  # the server names the top class from the model's config
        order = sorted(range(len(probabilities)), key=lambda index: -probabilities[index])
        return Classification([LabelScore(names[index], probabilities[index]) for index in order])

    def classify(self, texts: list[str], budget: int | None = None) -> Batches:
        """A sequence classifier served by vLLM (`--runner pooling`): its own /classify route."""

        def work(chunk: list[str]) -> list[Classification]:
            body = {"model": self.model_id, "input": chunk, "truncate_prompt_tokens": self.token_limit}
            answer = self._post("classify", body, "text classification")
            return [self._ranked(row) for row in sorted(answer["data"], key=lambda row: row["index"])]

        return map_concurrently(self.endpoint, texts, work, CLASSIFY_CHUNK)

    # --- answers an instruct model writes

    def _ask(self, prompt: str, max_tokens: int, what: str) -> tuple[str, float]:
        """One greedy chat turn: the reply, and its probability under the model (1.0 when the server gives no
        log-probabilities)."""
        answer = call(
            self.endpoint,
            lambda client: client.chat.completions.create(
                model=self.model_id,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=0,
                logprobs=True,
            ),
            self.model_id,
            what,
        )
        choice = answer.choices[0]
        tokens = choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
        return (choice.message.content or "").strip(), math.exp(sum(token.logprob for token in tokens))

    def _zero_shot_one(self, text: str, labels: list[str], multi_label: bool) -> Classification:
        listed = ", ".join(labels)
        if multi_label:
            prompt = (
                f"Which of these labels apply to the text below: {listed}?\nReply with every label that applies, "
                f"separated by commas, or 'none'.\n\nText: {text}"
            )
        else:
            prompt = (
                f"Which one of these labels fits the text below best: {listed}?\nReply with the label only.\n\n"
                f"Text: {text}"
            )
        reply, probability = self._ask(prompt, 16 * len(labels), "zero-shot classification")
        chosen = _labels_in(reply, labels)
        if not multi_label:
            chosen = chosen[:1] or difflib.get_close_matches(reply, labels, n=1, cutoff=0.0)[:1] or labels[:1]
        rest = [label for label in labels if label not in chosen]
        return Classification(
            [LabelScore(label, probability) for label in chosen] + [LabelScore(label, 0.0) for label in rest]
        )

    def zero_shot(
        self,
        texts: list[str],
        labels: list[str],
        multi_label: bool = False,
        hypothesis: str = DEFAULT_HYPOTHESIS,
        budget: int | None = None,
    ) -> Batches:
        """The instruct model picks among the user's labels; the picked label's score is the reply's probability."""
        return map_concurrently(
            self.endpoint, texts, lambda chunk: [self._zero_shot_one(text, labels, multi_label) for text in chunk], 1
        )

    def _translate_one(self, text: str, settings: TranslationSettings) -> str:
        source = f" from {settings.source_lang}" if settings.source_lang else ""
        prompt = (
            f"Translate the text below{source} into {settings.target_lang}. Keep the line breaks. Reply with the "
            f"translation only.\n\n{text}"
        )
        sentences = sum(len(line) for line in split_sentences(text)) or 1
        return self._ask(prompt, min(settings.max_new_tokens * sentences, self.token_limit // 2), "translation")[0]

    def translate(self, texts: list[str], settings: TranslationSettings, budget: int | None = None) -> Batches:
        """Whole texts, one request each: an instruct model needs no sentence splitting to fit a window."""
        if not settings.target_lang:
            raise InputError(
                "remote_target_language",
                "Say which language to translate into (the target language, for example English).",
            )
        return map_concurrently(
            self.endpoint, texts, lambda chunk: [self._translate_one(text, settings) for text in chunk], 1
        )

    def _answer_one(self, question: str, context: str, settings: QASettings) -> list[Answer]:
        may_be_absent = (
            f" If the context does not hold the answer, reply {NO_ANSWER}." if settings.allow_no_answer else ""
        )
        prompt = (
            "Answer the question from the context only. Copy the answer from the context word for word, as short "
            f"as possible.{may_be_absent}\n\nContext: {context}\n\nQuestion: {question}"
        )
        reply, probability = self._ask(prompt, settings.max_answer_tokens, "question answering")
        reply = reply.strip().strip('"“”').strip()
        if not reply or reply.upper().rstrip(".") == NO_ANSWER:
            return [Answer("", probability, 0, 0)]
        start = context.casefold().find(reply.casefold())
        if start < 0:  # an answer not copied from the context is shown as written, with no place in it
            return [Answer(reply, probability, 0, 0)]
        return [Answer(context[start : start + len(reply)], probability, start, start + len(reply))]

    def answer(
        self, questions: list[str], contexts: list[str], settings: QASettings, budget: int | None = None
    ) -> Batches:
        """One answer per question, generated by an instruct model and placed in the context where it was copied."""
        pairs = list(zip(questions, contexts))
        return map_concurrently(
            self.endpoint,
            pairs,
            lambda chunk: [self._answer_one(question, context, settings) for question, context in chunk],
            1,
        )
