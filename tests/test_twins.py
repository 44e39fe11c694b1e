"""Every default model's architecture, tokenizer and conventions, through the tasks and the app, on tiny twins."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import transformers
import yaml
from gradio_client import handle_file
from twins import ARCHITECTURES, DEFAULT_MODELS, TASK_KINDS, Conventions, build_qwen2, missing_twins

from llm_demo.finetune import FinetuneSettings, LabelledRows, finetune
from llm_demo.models import get_model
from llm_demo.models.local.batching import encoder_inputs
from llm_demo.models.local.classify import encode, forward_logits, nli_indices
from llm_demo.models.local.generate import prompt_ids
from llm_demo.models.local.qa import forward_windows, make_windows
from llm_demo.models.local.translate import encode as encode_sentences
from llm_demo.models.local.translate import generation_options
from llm_demo.settings import ASSETS_DIR
from llm_demo.tasks.classification import classify, label_names, zero_shot
from llm_demo.tasks.fill_mask import fill_mask
from llm_demo.tasks.generation import GenerationSettings, generate
from llm_demo.tasks.qa import QASettings, answer
from llm_demo.tasks.sentiment import analyse
from llm_demo.tasks.translation import TranslationSettings, translate
from llm_demo.ui import translation_tab
from llm_demo.ui.inside_tab import VIEW_DTYPE

DEFAULTS = yaml.safe_load((ASSETS_DIR / "models.yaml").read_text(encoding="utf-8"))
GREEDY_TRANSLATION = TranslationSettings(num_beams=1, max_new_tokens=8)
GREEDY = GenerationSettings(max_new_tokens=6, temperature=0, repetition_penalty=1.0)
MIXED = ["Paris is the capital of France.", "今天天气很好。", "Hello"]  # different lengths: batches get padding


def entries(task: str) -> list:
    """pytest params of one task's default models, named by model id."""
    return [pytest.param(entry, id=entry["model"]) for entry in DEFAULTS[task]]


def conventions(entry: dict) -> Conventions:
    return DEFAULT_MODELS[entry["model"]]


def assert_same_scores(batched: list, alone: list) -> None:
    """Padding in a batch changes no label's score (each architecture masks and positions padding its own way)."""
    for together, single in zip(batched, alone, strict=True):  # by label: random twins score labels near-equally
        assert {s.label: s.score for s in together.scores} == pytest.approx(
            {s.label: s.score for s in single.scores}, abs=1e-5
        )


@pytest.fixture(scope="module")
def twin(twin_registry):
    def _load(task: str, entry: dict, **options):
        return get_model(twin_registry.resolve(task, entry["name"]), TASK_KINDS[task], **options)

    return _load


# --- the twin check itself -----------------------------------------------------------------------


def test_every_default_model_has_a_twin():
    assert missing_twins(ASSETS_DIR / "models.yaml") == []


def test_a_new_architecture_without_a_twin_fails_the_check(tmp_path):
    models_file = tmp_path / "models.yaml"
    models_file.write_text(
        "generation:\n  - {model: acme/mamba-tiny, name: Mamba}\n"
        "sentiment:\n  - distilbert/distilbert-base-uncased-finetuned-sst-2-english\n"
    )
    assert missing_twins(models_file) == [
        "generation: acme/mamba-tiny is not in tests/twins.py DEFAULT_MODELS (add its model_type)"
    ]
    known = {**DEFAULT_MODELS, "acme/mamba-tiny": Conventions("mamba")}
    assert missing_twins(models_file, known) == [
        "generation: acme/mamba-tiny is a 'mamba', which has no twin builder in tests/twins.py ARCHITECTURES"
    ]
    assert missing_twins(models_file, known, {**ARCHITECTURES, "mamba": ARCHITECTURES["llama"]}) == []


def test_the_qwen2_twin_builds_on_its_own_in_the_shape_servers_expect(tmp_path):
    folder = build_qwen2(tmp_path / "qwen2")
    config = transformers.AutoConfig.from_pretrained(folder)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert (config.model_type, config.hidden_size // config.num_attention_heads) == ("qwen2", 64)
    assert config.vocab_size >= len(tokenizer) and config.vocab_size % 64 == 0
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == ("<|im_end|>", "<|endoftext|>", None)


# --- translation: Marian's SentencePiece pair, NLLB's language codes ---------------------------------


@pytest.mark.parametrize("entry", entries("translation"))
def test_translation_batched_equals_one_by_one(twin, entry):
    loaded = twin("translation", entry)
    settings = TranslationSettings(
        num_beams=1, max_new_tokens=8, source_lang=entry.get("source_lang"), target_lang=entry.get("target_lang")
    )
    together = translate(loaded, MIXED, settings)
    assert together == [translate(loaded, [text], settings)[0] for text in MIXED]
    assert all(isinstance(text, str) and "\n" not in text for text in together)


def test_nllb_reads_the_source_code_first_and_writes_the_target_code_first(twin):
    entry = next(e for e in DEFAULTS["translation"] if e["model"] == "facebook/nllb-200-distilled-600M")
    loaded = twin("translation", entry)
    tokenizer = loaded.tokenizer
    settings = TranslationSettings(num_beams=1, max_new_tokens=4, source_lang="eng_Latn", target_lang="zho_Hans")
    ids = encode_sentences(loaded, ["Hello world"], settings)[0]
    assert tokenizer.convert_ids_to_tokens([ids[0], ids[-1]]) == ["eng_Latn", "</s>"]
    output = loaded.model.generate(input_ids=torch.tensor([ids]), **generation_options(loaded, settings))
    assert tokenizer.convert_ids_to_tokens(output[0, :2].tolist()) == ["</s>", "zho_Hans"]  # decoder start, forced BOS


def test_two_visitors_translating_from_different_languages_at_once_keep_their_own_source_code(twin):
    entry = next(e for e in DEFAULTS["translation"] if e["model"] == "facebook/nllb-200-distilled-600M")
    loaded = twin("translation", entry)
    start = threading.Barrier(2)

    def first_tokens(source: str) -> set[str]:
        settings = TranslationSettings(num_beams=1, max_new_tokens=4, source_lang=source, target_lang="zho_Hans")
        start.wait()
        return {
            loaded.tokenizer.convert_ids_to_tokens(encode_sentences(loaded, ["Hello world"], settings)[0][0])
            for _ in range(300)
        }

    usual = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between almost any two lines, as on a busy server
    try:
        with ThreadPoolExecutor(2) as pool:
            english, french = pool.map(first_tokens, ["eng_Latn", "fra_Latn"])
    finally:
        sys.setswitchinterval(usual)
    assert (english, french) == ({"eng_Latn"}, {"fra_Latn"})


# --- generation: chat templates and byte-level BPE -------------------------------------------------


@pytest.mark.parametrize("entry", entries("generation"))
def test_generation_batched_equals_one_by_one(twin, entry):
    loaded = twin("generation", entry)
    together = generate(loaded, MIXED, GREEDY)
    assert together == [generate(loaded, [text], GREEDY)[0] for text in MIXED]


@pytest.mark.parametrize(
    "model_id, expected_start",
    [
        ("Qwen/Qwen2.5-0.5B-Instruct", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud."),
        ("HuggingFaceTB/SmolLM2-360M-Instruct", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        ("openai-community/gpt2", "Hello"),
    ],
)
def test_chat_models_get_their_own_template_and_plain_ones_the_bare_prompt(twin, model_id, expected_start):
    entry = next(e for e in DEFAULTS["generation"] if e["model"] == model_id)
    loaded = twin("generation", entry)
    text = loaded.tokenizer.decode(prompt_ids(loaded, "Hello"))
    assert text.startswith(expected_start)
    assert text.endswith("<|im_start|>assistant\n" if expected_start != "Hello" else "Hello")


# --- classification: label orders, multi-label, zero-shot NLI ------------------------------------------


@pytest.mark.parametrize(
    "entry", [e for e in entries("classification") + entries("sentiment") if not e.values[0].get("zero_shot")]
)
def test_fixed_label_models_keep_their_label_order_and_batch_like_one_by_one(twin, entry):
    task = "classification" if entry in DEFAULTS["classification"] else "sentiment"
    loaded = twin(task, entry)
    assert label_names(loaded) == list(conventions(entry).labels)
    assert_same_scores(classify(loaded, MIXED), [classify(loaded, [text])[0] for text in MIXED])


def test_multi_label_emotions_score_each_label_on_its_own(twin):
    entry = next(e for e in DEFAULTS["classification"] if e["model"] == "SamLowe/roberta-base-go_emotions")
    loaded = twin("classification", entry)
    result = classify(loaded, ["I loved this film, it was great!"])[0]
    logits = forward_logits(loaded, encode(loaded, ["I loved this film, it was great!"]))[0]
    expected = dict(zip(label_names(loaded), logits.sigmoid().tolist()))
    assert {s.label: s.score for s in result.scores} == pytest.approx(expected, abs=1e-6)
    assert sum(expected.values()) > 1.5  # independent sigmoids, not a softmax over 28 labels


@pytest.mark.parametrize(
    "model_id, entail, contra",
    [
        ("MoritzLaurer/mDeBERTa-v3-base-mnli-xnli", 0, 2),  # entailment, neutral, contradiction
        ("cross-encoder/nli-distilroberta-base", 1, 0),  # contradiction, entailment, neutral
    ],
)
def test_zero_shot_reads_each_nli_models_own_label_order(twin, model_id, entail, contra):
    entry = next(e for e in DEFAULTS["classification"] if e["model"] == model_id)
    loaded = twin("classification", entry)
    assert nli_indices(loaded) == (entail, contra)
    labels, texts = ["sport", "politics", "food"], ["The striker scored twice.", "这家餐厅的火锅味道很好。"]
    together = zero_shot(loaded, texts, labels)
    assert [sum(s.score for s in r.scores) for r in together] == pytest.approx([1.0, 1.0], abs=1e-5)
    assert_same_scores(together, [zero_shot(loaded, [text], labels)[0] for text in texts])


def test_a_text_longer_than_xlm_roberta_reads_is_cut_at_512_even_with_no_tokenizer_limit(twin):
    """cardiffnlp's checkpoint states no model_max_length; RoBERTa's 514 positions start at 2, so 512 tokens fit."""
    loaded = twin("sentiment", next(e for e in DEFAULTS["sentiment"] if e["model"].startswith("cardiffnlp/")))
    long_text = "Paris is the capital of France. " * 200
    assert len(loaded.tokenizer(long_text)["input_ids"]) > 1000 and loaded.tokenizer.model_max_length > 10**9
    assert [row.text for row in analyse(loaded, [long_text, "Hello"])] == [long_text, "Hello"]
    assert loaded.token_limit == 512


@pytest.mark.parametrize("entry", entries("sentiment"))
def test_sentiment_rows_use_the_models_label_names(twin, entry):
    rows = analyse(twin("sentiment", entry), MIXED)
    assert [row.text for row in rows] == MIXED
    assert {row.label for row in rows} <= set(conventions(entry).labels)


# --- question answering and masked words -----------------------------------------------------------


@pytest.mark.parametrize("entry", entries("qa"))
def test_answers_are_spans_of_the_context_batched_like_one_by_one(twin, entry):
    loaded = twin("qa", entry)
    questions = ["Where is the tower?", "长城有多长？"]
    contexts = ["The tower is in Paris and was built in 1889.", "长城是中国古代的军事防御工程，总长度超过两万千米。"]
    settings = QASettings(top_k=3, allow_no_answer=bool(entry.get("no_answer")))
    together = answer(loaded, questions, contexts, settings)
    alone = [answer(loaded, [q], [c], settings)[0] for q, c in zip(questions, contexts)]
    assert [[(a.text, a.start, a.end) for a in row] for row in together] == [
        [(a.text, a.start, a.end) for a in row] for row in alone
    ]
    for context, answers in zip(contexts, together):
        assert all(context[a.start : a.end] == a.text for a in answers)


@pytest.mark.parametrize("entry", entries("fill_mask"))
def test_fill_mask_accepts_either_mask_spelling(twin, entry):
    loaded = twin("fill_mask", entry)
    fillers = fill_mask(loaded, ["Paris is the [MASK] of France.", "巴黎是法国的<mask>都。"], top_k=3)
    assert [len(row) for row in fillers] == [3, 3]
    for row in fillers:
        assert [f.probability for f in row] == sorted((f.probability for f in row), reverse=True)
        assert len({f.token for f in row}) == 3


@pytest.mark.parametrize(
    "entry",
    [
        param
        for param in entries("finetune")  # one per architecture: training is slow
        if param.values[0]["model"] in {"sentence-transformers/all-MiniLM-L6-v2", "distilbert/distilbert-base-uncased"}
    ],
)
def test_finetune_bases_train_and_their_models_classify(twin_registry, entry, tmp_path):
    rows = LabelledRows(
        texts=["goal match team", "pizza soup bread", "rain snow wind"] * 4, labels=["sport", "food", "weather"] * 4
    )
    base = twin_registry.resolve("finetune", entry["name"])
    result = finetune(base, rows, tmp_path / "out", FinetuneSettings(epochs=1, batch_size=4, max_length=16))
    trained = get_model(twin_registry.resolve("classification", str(result.output_dir)), "sequence-classification")
    assert label_names(trained) == ["food", "sport", "weather"]
    assert classify(trained, ["goal"])[0].label in {"food", "sport", "weather"}


# --- pairs (NLI premise and hypothesis, QA question and context) ----------------------------------------

PAIR_MODELS = [("classification", entry) for entry in DEFAULTS["classification"] if entry.get("zero_shot")] + [
    ("qa", entry) for entry in DEFAULTS["qa"]
]


def assert_reads_pairs_as_its_tokenizer(task: str, loaded) -> None:
    """The task's batched forward pass gives what the model gives on its tokenizer's own encoding of the pairs."""
    firsts, seconds = ["Where is the tower?", "Hi"], ["The tower is in Paris, France.", "今天天气很好。"]
    reference = loaded.tokenizer(firsts, seconds, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = loaded.model(**reference)
    if task == "qa":
        scored = forward_windows(loaded, make_windows(loaded, firsts, seconds, QASettings()))
        got = torch.cat([start for _, start, _ in scored])
        expected = expected.start_logits[reference["attention_mask"].bool()]
    else:
        got, expected = forward_logits(loaded, encode(loaded, firsts, seconds)), expected.logits
    assert got.flatten().tolist() == pytest.approx(expected.flatten().tolist(), abs=1e-4)


@pytest.mark.parametrize("task, entry", [pytest.param(task, entry, id=entry["model"]) for task, entry in PAIR_MODELS])
def test_every_pair_model_reads_pairs_as_its_tokenizer_encodes_them(twin, task, entry):
    assert_reads_pairs_as_its_tokenizer(task, twin(task, entry))


@pytest.mark.parametrize("task, name", [("classification", "Tiny BERT NLI"), ("qa", "Tiny BERT QA")])
def test_bert_reads_the_second_text_of_a_pair_as_its_second_segment(load, task, name):
    """BERT was trained with segment ids; without them a QA context or NLI hypothesis reads as more question."""
    loaded = load(task, name, TASK_KINDS[task])
    assert_reads_pairs_as_its_tokenizer(task, loaded)
    ids = encode(loaded, ["Where?"], ["In Paris."])
    segments = loaded.tokenizer("Where?", "In Paris.")["token_type_ids"]
    assert encoder_inputs(loaded, ids)["token_type_ids"].tolist() == [segments]
    assert segments[-4:] == [1, 1, 1, 1]  # "in", "paris", ".", [SEP]


def test_distilbert_gets_no_token_type_ids(twin):
    loaded = twin("qa", DEFAULTS["qa"][1])
    assert set(encoder_inputs(loaded, encode(loaded, ["Where?"], ["In Paris."]))) == {"input_ids", "attention_mask"}


# --- every tab through the Gradio API, on the default models' names ------------------------------------


def test_translation_tab_example_runs_on_its_twin(twin_client, twin):
    text, model = translation_tab.EXAMPLES[0]
    result, status = twin_client.predict(text, model, 1, 8, "", "", api_name="/translate")
    entry = next(e for e in DEFAULTS["translation"] if e["name"] == model)
    assert result == translate(twin("translation", entry), [text], GREEDY_TRANSLATION)[0]
    assert "opus-mt-zh-en" in status


def test_generation_tab_streams_the_qwen_twin(twin_client, twin):
    entry = DEFAULTS["generation"][0]
    job = twin_client.submit("Hello", entry["name"], "", 6, 0, 1, 1, None, api_name="/generate")
    text, _ = job.result()
    assert text == generate(twin("generation", entry), ["Hello"], GREEDY)[0]


def test_classification_tab_zero_shot_on_mdeberta_and_fixed_labels_on_emotions(twin_client):
    result, _ = twin_client.predict(
        "The striker scored.", DEFAULTS["classification"][0]["name"], "sport, food", False, api_name="/classify"
    )
    assert {c["label"] for c in result["confidences"]} == {"sport", "food"}
    result, _ = twin_client.predict("Great!", DEFAULTS["classification"][3]["name"], "", False, api_name="/classify")
    assert {c["label"] for c in result["confidences"]} <= set(conventions(DEFAULTS["classification"][3]).labels)


def test_sentiment_tab_on_the_multilingual_distilbert_twin(twin_client):
    table, _ = twin_client.predict("good\n好", DEFAULTS["sentiment"][0]["name"], api_name="/sentiment")
    assert [row[0] for row in table["data"]] == ["good", "好"]
    assert {row[1] for row in table["data"]} <= set(conventions(DEFAULTS["sentiment"][0]).labels)


def test_qa_tab_on_the_xlm_roberta_squad2_twin(twin_client):
    context = "The tower is in Paris and was built in 1889."
    best, marked, _, _ = twin_client.predict(
        "Where?", context, DEFAULTS["qa"][0]["name"], 1, 10, True, api_name="/answer"
    )
    assert "".join(piece["token"] for piece in marked) == context


def test_inside_tab_fill_mask_on_the_xlm_roberta_twin(twin_client, twin):
    entry = DEFAULTS["fill_mask"][1]
    result, _ = twin_client.predict("Paris is the [MASK] of France.", entry["name"], 3, api_name="/fill_mask")
    model = twin("fill_mask", entry, dtype=VIEW_DTYPE)  # as the tab loads it
    expected = fill_mask(model, ["Paris is the [MASK] of France."], 3)[0]
    assert [c["confidence"] for c in result["confidences"]] == pytest.approx([f.probability for f in expected])


def test_evaluation_tab_scores_the_sst2_twin(twin_client, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngreat film,POSITIVE\nawful,NEGATIVE\n", encoding="utf-8")
    name = DEFAULTS["sentiment"][1]["name"]
    status, summary, *_ = twin_client.predict(
        handle_file(str(data)), "sentiment", [name], "text", "label", None, None, None, None, None, api_name="/evaluate"
    )
    assert status.startswith("Finished: 2 rows, 1 model(s).")
    assert summary["data"][0][:3] == [name, "complete", 2]


def test_finetune_tab_trains_the_multilingual_distilbert_twin(twin_client, tmp_path):
    data = tmp_path / "topics.csv"
    data.write_text("text,label\n" + "goal match,sport\npizza soup,food\n" * 6, encoding="utf-8")
    job = twin_client.submit(
        handle_file(str(data)),
        "text",
        "label",
        DEFAULTS["finetune"][2]["name"],
        "twin-run",
        1,
        5e-5,
        4,
        16,
        0.01,
        0.1,
        0.2,
        42,
        0,
        api_name="/finetune",
    )
    _, table, status, archive, _ = job.result()
    assert "twin-run" in status
    assert [row[0] for row in table["data"]] == [1.0]
    assert Path(archive).name.endswith(".zip")
