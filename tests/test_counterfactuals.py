"""Counterfactuals that flip a classifier's label: every one returned flips it when classified again, ablation finds
the fewest words (a trigger word a trained model keys on), substitution follows the gradient, Chinese is cut into
dictionary words, the cap on model calls holds, and a model without gradients gets ablation only."""

from __future__ import annotations

import random

import pytest
import torch
from helpers import entry
from sklearn.linear_model import LogisticRegression
from tiny_models import MINILM_DIR

from llm_demo.finetune import LabelledRows
from llm_demo.models.base import Model
from llm_demo.models.local.model import load_model
from llm_demo.models.types import Classification, LabelScore
from llm_demo.tasks.classification import classify
from llm_demo.tasks.counterfactuals import (
    ABLATION,
    NEEDS_WEIGHTS,
    SUBSTITUTION,
    ZERO_SHOT,
    CallCounter,
    ablations,
    counterfactuals,
    without,
)
from llm_demo.text import word_spans
from llm_demo.ui.inside_tab import VIEW_DTYPE

TRIGGER = "zebra"
WORDS = ["the", "today", "we", "talked", "about", "a", "great", "new", "really", "saw", "my", "friend", "park"]
WORDS += ["house", "quiet", "morning", "walked", "found", "old", "car", "book", "green", "small", "city"]


def keyword(*triggers: str, need: int = 1):
    """A stand-in classifier: 'alert' with probability 0.9 when the text holds `need` of the triggers, else 'calm'."""

    def predict(texts: list[str]) -> list[Classification]:
        results = []
        for text in texts:
            alert = 0.9 if sum(text.count(trigger) for trigger in triggers) >= need else 0.2
            scores = [LabelScore("alert", alert), LabelScore("calm", round(1 - alert, 4))]
            results.append(Classification(sorted(scores, key=lambda score: -score.score)))
        return results

    return predict


class KeywordModel(Model):
    """A fixed-label model that gives no gradients, as a model on a server does."""

    model_id, kind, token_limit, load_seconds = "keyword", "sequence-classification", 512, 0.0

    def __init__(self, *triggers: str) -> None:
        self.predict = keyword(*triggers)

    @property
    def labels(self) -> list[str]:
        return ["alert", "calm"]

    def classify(self, texts: list[str], budget: int | None = None):
        yield list(range(len(texts))), self.predict(texts)


def test_removing_a_word_takes_one_space_with_it():
    text = "I loved it, the end was great."
    words = word_spans(text)
    assert without(text, words, {0}) == "loved it, the end was great."
    assert without(text, words, {1}) == "I it, the end was great."
    assert without(text, words, {6}) == "I loved it, the end was."
    assert without(text, words, {4, 5}) == "I loved it, the great."


def test_chinese_is_cut_into_dictionary_words():
    text = "今天天气很好，我喜欢这部电影。"
    words = ["今天天气", "很", "好", "我", "喜欢", "这部", "电影"]
    assert [text[start:end] for start, end in word_spans(text)] == words


def test_ablation_finds_the_one_word_the_label_rests_on():
    predict = keyword(TRIGGER)
    text = "we saw a zebra in the park today"
    found = ablations(CallCounter(predict, 100), text, predict([text])[0])
    assert found == [(ABLATION, "we saw a in the park today", [TRIGGER])]


def test_ablation_removes_both_words_when_either_alone_keeps_the_label():
    predict = keyword("zebra", "lion")
    text = "a zebra and a lion walked in the quiet park"
    found = ablations(CallCounter(predict, 100), text, predict([text])[0])
    assert [changed for _, _, changed in found] == [["zebra", "lion"]]
    assert predict([found[0][1]])[0].label == "calm"


def test_ablation_grows_a_set_greedily_and_prunes_it_to_what_the_flip_needs():
    predict = keyword("zebra")  # every zebra has to go: no single word or pair flips it
    text = "zebra one zebra two zebra three and a park"
    found = ablations(CallCounter(predict, 200), text, predict([text])[0])
    assert found == [(ABLATION, "one two three and a park", ["zebra", "zebra", "zebra"])]


def test_ablation_of_chinese_removes_a_dictionary_word():
    predict = keyword("天气")
    text = "今天天气很好，我们去公园。"
    found = ablations(CallCounter(predict, 100), text, predict([text])[0])
    assert [changed for _, _, changed in found] == [["今天天气"]]  # jieba's word, not a character


def test_the_cap_on_model_calls_holds():
    model = KeywordModel("zebra")
    text = " ".join(random.Random(0).choices(WORDS, k=60)) + " zebra"
    result = counterfactuals(model, text, max_calls=30)
    assert result.calls <= 30
    assert all(flip.label != result.original.label for flip in result.flips)


def test_a_model_without_gradients_gets_ablation_only():
    result = counterfactuals(KeywordModel("zebra"), "we saw a zebra today")
    assert result.substitution_skipped == NEEDS_WEIGHTS
    assert [(flip.kind, flip.text, flip.label) for flip in result.flips] == [(ABLATION, "we saw a today", "calm")]
    assert [edit.kind for edit in result.flips[0].diff] == [None, "removed", None]


def test_a_zero_shot_model_gets_ablation_only(load):
    nli = load("classification", "Tiny BERT NLI", "sequence-classification", dtype=VIEW_DTYPE)
    result = counterfactuals(nli, "the match was great", "sport, food", max_calls=40)
    assert result.substitution_skipped == ZERO_SHOT
    assert all(flip.kind == ABLATION for flip in result.flips)


# --- a real model trained to key on one word ----------------------------------------------------------


def trigger_rows(count: int, seed: int) -> LabelledRows:
    """Sentences of 4 to 7 ordinary words; half hold the trigger somewhere, and only those are 'alert'."""
    rng = random.Random(seed)
    texts, labels = [], []
    for index in range(count):
        words = rng.sample(WORDS, rng.randint(4, 7))
        if index % 2:
            words.insert(rng.randint(0, len(words)), TRIGGER)
        texts.append(" ".join(words))
        labels.append("alert" if index % 2 else "calm")
    return LabelledRows(texts, labels)


@pytest.fixture(scope="module")
def trigger_model(tiny):
    """all-MiniLM-L6-v2 with its classifier head trained to say 'alert' exactly when the text holds the trigger
    word: a logistic regression on the encoder's pooled output of 200 sentences, right on 100 others. A probe of
    the frozen encoder learns in seconds, and the same every time, where fine-tuning it all took minutes."""
    loaded = load_model(
        entry(MINILM_DIR, "MiniLM", "finetune"),
        "sequence-classification",
        dtype=VIEW_DTYPE,
        new_head={"id2label": {0: "calm", 1: "alert"}, "label2id": {"calm": 0, "alert": 1}},
    )
    rows = trigger_rows(200, seed=0)
    probe = LogisticRegression(C=10, max_iter=2000).fit(pooled(loaded, rows.texts), rows.labels)
    weight = torch.tensor(probe.coef_[0], dtype=torch.float32)  # log-odds of probe.classes_[1], 'calm'
    with torch.no_grad():
        loaded.model.classifier.weight.copy_(torch.stack([weight / 2, -weight / 2]))
        loaded.model.classifier.bias.copy_(torch.tensor([probe.intercept_[0] / 2, -probe.intercept_[0] / 2]))
    unseen = trigger_rows(100, seed=1)
    assert [result.label for result in classify(loaded, unseen.texts)] == unseen.labels
    return loaded


def pooled(loaded, texts: list[str]):
    encoded = loaded.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        return loaded.model.bert(**encoded).pooler_output.numpy()


def test_ablation_finds_the_trigger_word_the_model_was_trained_on(trigger_model):
    text = "my friend saw a zebra near the old house"
    result = counterfactuals(trigger_model, text)
    assert result.original.label == "alert"
    removals = [flip for flip in result.flips if flip.kind == ABLATION]
    assert removals[0].changed == [TRIGGER]  # the removal that leaves 'alert' least probability comes first
    assert removals[0].text == "my friend saw a near the old house" and removals[0].label == "calm"
    assert all(len(flip.changed) == 1 for flip in removals)


def test_every_counterfactual_flips_the_label_when_classified_again(trigger_model):
    for text in ("my friend saw a zebra near the old house", "a zebra walked through the quiet city"):
        result = counterfactuals(trigger_model, text, max_calls=100)
        assert {flip.kind for flip in result.flips} == {ABLATION, SUBSTITUTION}
        for flip in result.flips:
            again = classify(trigger_model, [flip.text])[0]
            assert again.label == flip.label != result.original.label
            assert again.score == pytest.approx(flip.score, abs=1e-6)


def test_substitution_replaces_the_trigger_by_a_real_word(trigger_model):
    text = "we saw a zebra today"
    result = counterfactuals(trigger_model, text, max_calls=100)
    replaced = [flip for flip in result.flips if flip.kind == SUBSTITUTION]
    assert replaced[0].changed[0].startswith(f"{TRIGGER} → ")  # the gradient's best guess is at the trigger
    for flip in replaced:
        old, new = flip.changed[0].split(" → ")
        changed = [(a, b) for a, b in zip(text.split(), flip.text.split(), strict=True) if a != b]
        assert changed == [(old, new)] and new.isalpha()
