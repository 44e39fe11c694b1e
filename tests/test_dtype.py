"""bf16 where the CPU has bf16 hardware, fp32 elsewhere, $LLM_DEMO_DTYPE over both; bf16 answers agree with fp32."""

from __future__ import annotations

import random

import pytest
import torch
from helpers import entry
from tiny_models import MINILM_DIR

from llm_demo.evaluation.metrics import classification_metrics
from llm_demo.finetune import FinetuneSettings, LabelledRows, finetune, resolve_base_model
from llm_demo.models import devices
from llm_demo.models.devices import cpu_has_bf16, pick_dtype
from llm_demo.models.local.model import load_model
from llm_demo.settings import get_settings
from llm_demo.tasks.classification import classify

CPU = torch.device("cpu")
TOPICS = {
    "sport": ["football", "tennis", "goal", "match", "team", "coach"],
    "food": ["pizza", "soup", "bread", "cheese", "salad", "noodles"],
    "weather": ["rain", "snow", "storm", "sunshine", "wind", "cloud"],
}
FILLER = ["the", "today", "we", "talked", "about", "a", "great", "new", "really", "saw"]
# Rows batched with padding and rows alone go through different kernels; in bf16 (8 significant bits, rounding
# 2^-8) their probabilities differ by about 0.01 on MiniLM with a strong head. fp32 agrees to 1e-6.
BF16_SCORE_TOLERANCE = 8 * 2**-8


@pytest.mark.parametrize(
    "avx512_bf16, amx, expected",
    [(True, False, torch.bfloat16), (False, True, torch.bfloat16), (False, False, torch.float32)],
)
def test_auto_picks_bf16_only_on_cpus_with_bf16_instructions(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert pick_dtype(CPU) == expected


def test_arm_cpus_are_asked_through_onednn(monkeypatch):
    monkeypatch.setattr(devices.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert cpu_has_bf16() is True


@pytest.mark.parametrize("has_bf16", [True, False])
@pytest.mark.parametrize(
    "preference, expected", [("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)]
)
def test_an_explicit_dtype_wins_over_the_hardware(monkeypatch, has_bf16, preference, expected):
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: has_bf16)
    assert pick_dtype(CPU, preference) == expected


def test_classification_on_a_bf16_cpu_runs_in_bf16_and_batches_agree_within_bf16_rounding(monkeypatch):
    """What `auto` gives on a CPU with bf16 instructions, simulated so that every machine runs it (one without
    them emulates bf16: slower, the same rounding)."""
    monkeypatch.delenv("LLM_DEMO_DTYPE", raising=False)
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    labels = ["no", "maybe", "yes"]
    loaded = load_model(
        entry(MINILM_DIR, "MiniLM", "finetune"),
        "sequence-classification",
        new_head={
            "id2label": dict(enumerate(labels)),
            "label2id": {label: index for index, label in enumerate(labels)},
        },
    )
    torch.manual_seed(0)
    with torch.no_grad():
        loaded.model.classifier.weight.normal_(std=2.0)  # scores far apart from text to text, not all near 1/3
    assert loaded.dtype == torch.bfloat16 and {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}
    texts = [
        "short",
        "a somewhat longer sentence about the weather today",
        "中文文本也可以",
        "I loved this film, the acting was wonderful.",
        "The service was slow and the food cold.",
    ]
    batched = classify(loaded, texts, budget=64)  # several batches, padded
    single = [classify(loaded, [text])[0] for text in texts]
    for many, one in zip(batched, single, strict=True):
        assert {s.label: s.score for s in many.scores} == pytest.approx(
            {s.label: s.score for s in one.scores}, abs=BF16_SCORE_TOLERANCE
        )


def test_llm_demo_dtype_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("LLM_DEMO_DTYPE", " BFloat16 ")
    assert get_settings().dtype == "bfloat16"
    monkeypatch.delenv("LLM_DEMO_DTYPE")
    assert get_settings().dtype == "auto"
    monkeypatch.setenv("LLM_DEMO_DTYPE", "fp8")
    with pytest.raises(ValueError, match="LLM_DEMO_DTYPE must be one of auto, float32, bfloat16, float16"):
        get_settings()


def test_the_override_loads_the_weights_in_that_dtype(monkeypatch, tiny):
    monkeypatch.setenv("LLM_DEMO_DTYPE", "bfloat16")
    loaded = load_model(entry(tiny.sentiment, "tiny", "sentiment"), "sequence-classification")
    assert loaded.dtype == torch.bfloat16 and next(loaded.model.parameters()).dtype == torch.bfloat16
    assert "bfloat16" in loaded.describe()


def mixed_topic_rows(count: int, seed: int) -> LabelledRows:
    """Two words of the label's topic and one of another, among filler: learnable, with rows near the boundary."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        topic = list(TOPICS)[index % len(TOPICS)]
        other = rng.choice([name for name in TOPICS if name != topic])
        words = rng.sample(FILLER, 3) + rng.sample(TOPICS[topic], 2) + rng.sample(TOPICS[other], 1)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(topic)
    return LabelledRows(texts, labels)


def test_bf16_answers_agree_with_fp32_on_a_fine_tuned_minilm(registry, monkeypatch, tmp_path):
    folder = tmp_path / "dtype-agreement"  # not in the app's fine-tuned folder, whose models every tab lists
    settings = FinetuneSettings(epochs=2, learning_rate=5e-5, batch_size=16, max_length=32, patience=0)
    finetune(resolve_base_model(registry, "all-MiniLM-L6-v2"), mixed_topic_rows(240, seed=0), folder, settings)
    rows = mixed_topic_rows(600, seed=1)
    results = {}
    for dtype in ("float32", "bfloat16"):
        monkeypatch.setenv("LLM_DEMO_DTYPE", dtype)
        loaded = load_model(entry(folder, "tuned", "classification"), "sequence-classification")
        results[dtype] = classify(loaded, rows.texts)
    full, half = ([result.label for result in results[dtype]] for dtype in ("float32", "bfloat16"))
    agreement = sum(a == b for a, b in zip(full, half)) / len(rows.texts)
    names = sorted(TOPICS)
    full_metrics, half_metrics = (
        classification_metrics(rows.labels, predictions, names, bootstrap=0) for predictions in (full, half)
    )
    assert full_metrics.accuracy > 0.5  # it learned something, so the comparison means something
    assert agreement >= 0.995
    assert abs(full_metrics.accuracy - half_metrics.accuracy) <= 0.005 + 1e-9  # 0.5 points, up to rounding
    assert abs(full_metrics.macro_f1 - half_metrics.macro_f1) <= 0.005 + 1e-9
