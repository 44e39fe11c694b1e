"""LocalModel: a model whose weights are in this process, loaded onto the best device, offering the operations
tasks call (models/base.py) through the modules beside this one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from ...errors import ModelError
from ...registry import ModelEntry
from ...settings import get_settings
from ..base import Model
from ..devices import pick_device, pick_dtype
from ..hub import (
    KIND_WORDS,
    ONE_LOAD_AT_A_TIME,
    check_model_size,
    download_while_watched,
    explain_load_error,
    offline_options,
)
from ..types import (
    DEFAULT_HYPOTHESIS,
    AttentionMaps,
    Attribution,
    Batches,
    Filler,
    GenerationSettings,
    Message,
    QASettings,
    ScoredText,
    SequenceSalience,
    Substitution,
    TranslationSettings,
)
from . import classify, generate, hotflip, inside, qa, salience, translate
from .loaded import LoadedModel
from .onednn import pack_linear_layers

# What each kind of model is, as the names of transformers' Auto classes.
AUTO_CLASSES = {
    "seq2seq": "AutoModelForSeq2SeqLM",
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "encoder": "AutoModel",
}
PACKED_KINDS = {"causal-lm", "seq2seq"}  # they decode a few rows at a time; see onednn.py


class LocalModel(LoadedModel, Model):
    """The weights, tokenizer, device and dtype (LoadedModel), and the operations a task calls on them."""

    def status(self) -> tuple[str, dict[str, object]]:
        dtype = str(self.dtype).removeprefix("torch.")
        return "common.runs_on", {"device": self.device, "dtype": dtype, "seconds": self.load_seconds}

    def describe(self) -> str:
        return f"{self.model_id} · {self.placement} · loaded in {self.load_seconds:.1f} s"

    @property
    def labels(self) -> list[str]:
        return classify.label_names(self)

    @property
    def can_zero_shot(self) -> bool:
        return None not in classify.nli_positions(self)

    @property
    def has_chat_template(self) -> bool:
        return generate.uses_chat_template(self)

    @property
    def mask_token(self) -> str | None:
        return self.tokenizer.mask_token

    def classify(self, texts: list[str], budget: int | None = None) -> Batches:
        return classify.classify(self, texts, budget)

    def zero_shot(
        self,
        texts: list[str],
        labels: list[str],
        multi_label: bool = False,
        hypothesis: str = DEFAULT_HYPOTHESIS,
        budget: int | None = None,
    ) -> Batches:
        return classify.zero_shot(self, texts, labels, multi_label, hypothesis, budget)

    def translate(self, texts: list[str], settings: TranslationSettings, budget: int | None = None) -> Batches:
        return translate.translate(self, texts, settings, budget)

    def answer(
        self, questions: list[str], contexts: list[str], settings: QASettings, budget: int | None = None
    ) -> Batches:
        return qa.answer(self, questions, contexts, settings, budget)

    def generate(self, prompts: list[str], settings: GenerationSettings, budget: int | None = None) -> Batches:
        return generate.generate(self, prompts, settings, budget)

    def respond(self, conversations: list[list[Message]], settings: GenerationSettings) -> Batches:
        return generate.respond(self, conversations, settings)

    def continuation_logprobs(self, messages: list[Message], reply_start: str, continuations: list[str]) -> list[float]:
        return generate.continuation_logprobs(self, messages, reply_start, continuations)

    def stream(self, prompt: str, settings: GenerationSettings) -> Iterator[str]:
        return generate.stream_ids(self, generate.prompt_ids(self, prompt, settings.system_prompt), settings)

    def stream_chat(self, messages: list[Message], settings: GenerationSettings) -> Iterator[str]:
        return generate.stream_ids(self, generate.chat_ids(self, messages), settings)

    def fit_to_window(self, prompt: str, settings: GenerationSettings) -> GenerationSettings:
        return generate.fit_to_window(self, prompt, settings)

    def token_logprobs(self, texts: list[str], budget: int | None = None) -> Batches:
        return generate.token_logprobs(self, texts, budget)

    def scored_text(self, text: str) -> ScoredText:
        return generate.scored_text(self, text)

    def count_chat_tokens(self, messages: list[Message]) -> int:
        return len(generate.chat_ids(self, messages))

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def attention(self, texts: list[str], max_tokens: int, budget: int | None = None) -> list[AttentionMaps]:
        return inside.attention_maps(self, texts, max_tokens, budget)

    def fill_mask(self, texts: list[str], top_k: int, budget: int | None = None) -> list[list[Filler]]:
        return inside.fill_mask(self, texts, top_k, budget)

    def explain(self, text: str, steps: int, budget: int | None = None) -> Attribution:
        return inside.explain(self, text, steps, budget)

    def substitutions(self, text: str, words: list[tuple[int, int]], per_word: int) -> list[Substitution]:
        return hotflip.substitutions(self, text, words, per_word)

    def salience(self, prompt: str, answer: str, span: tuple[int, int]) -> SequenceSalience:
        return salience.salience(self, prompt, answer, span)


def _head_was_trained(loading_info: dict[str, Any]) -> bool:
    """A checkpoint without the task's head loads with random weights there; that is not a model for the task."""
    return not loading_info.get("missing_keys")


def load_model(
    entry: ModelEntry,
    kind: str,
    *,
    attn_implementation: str | None = None,
    new_head: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
    packed: bool = True,
) -> LocalModel:
    """Load without caching. `new_head` (label names) is for fine-tuning, where a fresh head is the point;
    `dtype` overrides $LLM_DEMO_DTYPE and the hardware's choice, for views whose numbers need float32;
    `packed=False` keeps a generating model's linear layers as they are, for views that take its gradients."""
    settings = get_settings()
    device = pick_device(settings.device)
    dtype = dtype or pick_dtype(device, settings.dtype)
    hub_options = offline_options(entry)
    if not hub_options:  # a Hub id with the Hub reachable: a typed one must fit LLM_DEMO_MAX_MODEL_MB first
        check_model_size(entry)
    download_while_watched(entry, hub_options, device)
    kwargs: dict[str, Any] = {"revision": entry.revision, "trust_remote_code": False, "dtype": dtype, **hub_options}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device.type == "cuda":
        kwargs["device_map"] = "auto"  # accelerate fills the GPU(s) first and offloads what does not fit
    if new_head:
        kwargs.update(new_head)
    started = time.perf_counter()
    try:
        with ONE_LOAD_AT_A_TIME:
            import transformers

            transformers.utils.logging.disable_progress_bar()
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                entry.model, revision=entry.revision, trust_remote_code=False, **hub_options
            )
            model, info = getattr(transformers, AUTO_CLASSES[kind]).from_pretrained(
                entry.model, output_loading_info=True, **kwargs
            )
    except ModelError:
        raise
    except Exception as error:
        raise explain_load_error(entry.model, kind, error) from error
    if not new_head and kind != "encoder" and not _head_was_trained(info):
        raise ModelError(
            "wrong_kind",
            "'{model}' cannot do {what}: it has no trained weights for it.",
            model=entry.model,
            what=KIND_WORDS[kind],
        )
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    if packed and kind in PACKED_KINDS and device.type == "cpu" and settings.pack_weights:
        pack_linear_layers(model, dtype)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return LocalModel(
        model_id=entry.model,
        kind=kind,
        model=model,
        tokenizer=tokenizer,
        device=model.device,
        dtype=dtype,
        load_seconds=time.perf_counter() - started,
    )
