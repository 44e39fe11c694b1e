"""Tiny random twins of every architecture in assets/models.yaml, built offline.

The Hub's checkpoints cannot be downloaded here, so each default model gets a twin: the same
`model_type` and tokenizer kind (SentencePiece trained with the `sentencepiece` trainer, byte-level
BPE with `tokenizers`, WordPiece from the vocabulary a package ships), a few layers wide, and the
real checkpoint's conventions copied into its config: label names and order, multi-label problem
type, language codes, chat template, special tokens, position tables. `DEFAULT_MODELS` says what
each default model is; `ARCHITECTURES` builds a tokenizer and a config per model_type. A default
model missing from the first, or of a model_type missing from the second, fails
tests/test_twins.py until someone adds its twin.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencepiece
import torch
import transformers
import yaml
from tiny_models import CORPUS, MINILM_DIR
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from llm_demo.models.local.model import AUTO_CLASSES
from llm_demo.registry import KIND_OF_TASK

TASK_KINDS = {**KIND_OF_TASK, "finetune": "encoder"}  # a fine-tuning base is a bare encoder: the app adds the head
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
SEQ2SEQ_SMALL = dict(
    d_model=32,
    encoder_layers=1,
    decoder_layers=1,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
)
SEQ2SEQ_POSITIONS = 128  # opus-mt has 512; fewer here so tests reach the end of the decoder's table quickly
CAUSAL_POSITIONS = 256
NLI = ("entailment", "neutral", "contradiction")
LANGUAGES = (
    "ja",
    "nl",
    "ar",
    "pl",
    "de",
    "it",
    "pt",
    "tr",
    "es",
    "hi",
    "el",
    "ur",
    "bg",
    "en",
    "fr",
    "zh",
    "ru",
    "th",
    "sw",
    "vi",
)
EMOTIONS = (
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
)
# ChatML as Qwen2.5 and SmolLM2 write it, each with the default system prompt its template adds.
CHATML = (
    r"{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\n{SYSTEM}<|im_end|>\n' }}{%- endif %}"
    r"{%- for message in messages %}"
    r"{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{%- endfor %}"
    r"{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
SMOLLM_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@dataclass(frozen=True)
class Conventions:
    """What a twin copies from the real checkpoint: its architecture and how its outputs are named."""

    model_type: str
    labels: tuple[str, ...] = ()  # id2label in class-id order
    problem_type: str | None = None
    tokenizer_limit: bool = True  # False: the checkpoint ships no model_max_length, only the config's positions say


# The model_type of every model in assets/models.yaml (read from each checkpoint's config.json).
DEFAULT_MODELS = {
    "Helsinki-NLP/opus-mt-zh-en": Conventions("marian"),
    "Helsinki-NLP/opus-mt-en-zh": Conventions("marian"),
    "Helsinki-NLP/opus-mt-en-de": Conventions("marian"),
    "facebook/nllb-200-distilled-600M": Conventions("m2m_100"),
    "Qwen/Qwen2.5-0.5B-Instruct": Conventions("qwen2"),
    "HuggingFaceTB/SmolLM2-360M-Instruct": Conventions("llama"),
    "openai-community/gpt2": Conventions("gpt2"),
    "MoritzLaurer/mDeBERTa-v3-base-mnli-xnli": Conventions("deberta-v2", NLI),
    "cross-encoder/nli-distilroberta-base": Conventions("roberta", ("contradiction", "entailment", "neutral")),
    "papluca/xlm-roberta-base-language-detection": Conventions("xlm-roberta", LANGUAGES),
    "SamLowe/roberta-base-go_emotions": Conventions("roberta", EMOTIONS, "multi_label_classification"),
    "tabularisai/multilingual-sentiment-analysis": Conventions(
        "distilbert", ("Very Negative", "Negative", "Neutral", "Positive", "Very Positive")
    ),
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english": Conventions("distilbert", ("NEGATIVE", "POSITIVE")),
    "cardiffnlp/twitter-xlm-roberta-base-sentiment": Conventions(
        "xlm-roberta", ("negative", "neutral", "positive"), tokenizer_limit=False
    ),
    "deepset/xlm-roberta-base-squad2": Conventions("xlm-roberta"),
    "distilbert/distilbert-base-cased-distilled-squad": Conventions("distilbert"),
    "deepset/roberta-base-squad2": Conventions("roberta"),
    "distilbert/distilbert-base-uncased": Conventions("distilbert"),
    "FacebookAI/xlm-roberta-base": Conventions("xlm-roberta"),
    "google-bert/bert-base-chinese": Conventions("bert"),
    "sentence-transformers/all-MiniLM-L6-v2": Conventions("bert"),
    "distilbert/distilbert-base-multilingual-cased": Conventions("distilbert"),
    "google-bert/bert-base-uncased": Conventions("bert"),
}


# --- tokenizers of each kind, trained here ------------------------------------------------------


def sentencepiece_model(model_type: str = "unigram") -> bytes:
    """A SentencePiece model (the file kind opus-mt, XLM-R, mDeBERTa and NLLB ship) trained on the corpus."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS),
        model_writer=model,
        vocab_size=400,
        hard_vocab_limit=False,
        character_coverage=1.0,
        model_type=model_type,
        minloglevel=2,
    )
    return model.getvalue()


def _pieces(model: bytes) -> list[tuple[str, float]]:
    """(piece, score) of a SentencePiece model, without its own <unk>, <s>, </s>: each family orders those itself."""
    processor = sentencepiece.SentencePieceProcessor(model_proto=model)
    pieces = [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    return [(piece, score) for piece, score in pieces if piece not in {"<unk>", "<s>", "</s>"}]


def byte_level_bpe(special: list[str]) -> Tokenizer:
    """Byte-level BPE (GPT-2, RoBERTa, Qwen2, SmolLM2) trained on the corpus, `special` first in the vocabulary."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=600, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return tokenizer


def marian_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """opus-mt: source.spm and target.spm beside one vocab.json, </s> = 0, <unk> = 1, <pad> last."""
    folder.mkdir(parents=True, exist_ok=True)
    model = sentencepiece_model()
    for name in ("source.spm", "target.spm"):
        (folder / name).write_bytes(model)
    vocab = {"</s>": 0, "<unk>": 1}
    for piece, _ in _pieces(model):
        vocab.setdefault(piece, len(vocab))
    vocab["<pad>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return transformers.MarianTokenizer(
        str(folder / "source.spm"), str(folder / "target.spm"), str(folder / "vocab.json"), model_max_length=512
    )


def nllb_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """NLLB: SentencePiece BPE, <s> <pad> </s> <unk> first, then the pieces, the 202 language codes and <mask>."""
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    spm_file = folder / "sentencepiece.bpe.model"
    folder.mkdir(parents=True, exist_ok=True)
    spm_file.write_bytes(sentencepiece_model("bpe"))
    extracted = SentencePieceExtractor(str(spm_file)).extract(None)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for piece in extracted["vocab"]:
        vocab.setdefault(piece, len(vocab))
    spm_file.unlink()
    return transformers.NllbTokenizer(
        vocab=vocab, merges=extracted["merges"], src_lang="eng_Latn", model_max_length=1024
    )


def xlm_roberta_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """XLM-R: SentencePiece unigram after the fairseq specials <s> <pad> </s> <unk>, <mask> last."""
    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    return transformers.XLMRobertaTokenizer(
        vocab=specials + _pieces(sentencepiece_model()) + [("<mask>", 0.0)], model_max_length=512
    )


def deberta_v2_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """mDeBERTa-v3: SentencePiece unigram with BERT-style [CLS]/[SEP] specials."""
    specials = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0)]
    return transformers.DebertaV2Tokenizer(
        vocab=specials + _pieces(sentencepiece_model()) + [("[MASK]", 0.0)], model_max_length=512
    )


def roberta_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    return transformers.RobertaTokenizer(
        tokenizer_object=byte_level_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]), model_max_length=512
    )


def gpt2_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    return transformers.GPT2Tokenizer(tokenizer_object=byte_level_bpe(["<|endoftext|>"]), model_max_length=1024)


def qwen2_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """Qwen2.5 Instruct: no BOS, <|im_end|> ends a turn, <|endoftext|> pads, ChatML template."""
    tokenizer = transformers.Qwen2Tokenizer(
        tokenizer_object=byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=131072,
    )
    tokenizer.chat_template = CHATML.replace("{SYSTEM}", QWEN_SYSTEM)
    return tokenizer


def smollm2_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """SmolLM2 Instruct: a GPT-2 tokenizer whose BOS is <|im_start|> and EOS/pad <|im_end|>, ChatML template."""
    tokenizer = transformers.GPT2Tokenizer(
        tokenizer_object=byte_level_bpe(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        model_max_length=8192,
    )
    tokenizer.chat_template = CHATML.replace("{SYSTEM}", SMOLLM_SYSTEM)
    return tokenizer


def bert_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    return transformers.BertTokenizer.from_pretrained(MINILM_DIR)


def distilbert_tokenizer(folder: Path) -> transformers.PreTrainedTokenizerBase:
    """DistilBERT's tokenizer gives no token_type_ids: the model has no segment embeddings."""
    return transformers.DistilBertTokenizer.from_pretrained(MINILM_DIR)


# --- configs: tiny, with each family's special ids and position tables ----------------------------


def _ids(tokenizer, **extra: Any) -> dict[str, Any]:
    return dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **extra)


def marian_config(tokenizer) -> transformers.PretrainedConfig:
    """opus-mt decodes from <pad> and ends on </s>."""
    return transformers.MarianConfig(
        **SEQ2SEQ_SMALL,
        **_ids(tokenizer),
        max_position_embeddings=SEQ2SEQ_POSITIONS,
        eos_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def m2m_100_config(tokenizer) -> transformers.PretrainedConfig:
    """NLLB decodes from </s>; the target language comes as a forced first token."""
    return transformers.M2M100Config(
        **SEQ2SEQ_SMALL,
        **_ids(tokenizer),
        max_position_embeddings=SEQ2SEQ_POSITIONS,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        scale_embedding=True,
    )


def qwen2_config(tokenizer) -> transformers.PretrainedConfig:
    """head_dim 64 and a vocabulary rounded up past the tokenizer's, as serving engines such as vLLM expect."""
    return transformers.Qwen2Config(
        vocab_size=-(-len(tokenizer) // 64) * 64,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=128,
        max_position_embeddings=CAUSAL_POSITIONS,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def llama_config(tokenizer) -> transformers.PretrainedConfig:
    return transformers.LlamaConfig(
        **SMALL,
        num_key_value_heads=1,
        **_ids(tokenizer),
        tie_word_embeddings=True,
        max_position_embeddings=CAUSAL_POSITIONS,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def gpt2_config(tokenizer) -> transformers.PretrainedConfig:
    return transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=CAUSAL_POSITIONS,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def deberta_v2_config(tokenizer) -> transformers.PretrainedConfig:
    """mDeBERTa-v3: relative positions, no absolute ones, no token types."""
    return transformers.DebertaV2Config(
        **SMALL,
        **_ids(tokenizer),
        max_position_embeddings=512,
        type_vocab_size=0,
        relative_attention=True,
        position_buckets=256,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
    )


def roberta_config(tokenizer) -> transformers.PretrainedConfig:
    """514 positions: two are taken by the padding offset, so the tokenizer's 512 is the real limit."""
    return transformers.RobertaConfig(
        **SMALL, **_ids(tokenizer), max_position_embeddings=514, type_vocab_size=1, bos_token_id=0, eos_token_id=2
    )


def xlm_roberta_config(tokenizer) -> transformers.PretrainedConfig:
    return transformers.XLMRobertaConfig(
        **SMALL, **_ids(tokenizer), max_position_embeddings=514, type_vocab_size=1, bos_token_id=0, eos_token_id=2
    )


def distilbert_config(tokenizer) -> transformers.PretrainedConfig:
    return transformers.DistilBertConfig(
        vocab_size=len(tokenizer),
        dim=32,
        n_layers=2,
        n_heads=2,
        hidden_dim=64,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )


def bert_config(tokenizer) -> transformers.PretrainedConfig:
    return transformers.BertConfig(**SMALL, **_ids(tokenizer), max_position_embeddings=512)


@dataclass(frozen=True)
class Architecture:
    tokenizer: Callable[[Path], transformers.PreTrainedTokenizerBase]  # may write its vocabulary files into the folder
    config: Callable[[Any], transformers.PretrainedConfig]


ARCHITECTURES = {
    "marian": Architecture(marian_tokenizer, marian_config),
    "m2m_100": Architecture(nllb_tokenizer, m2m_100_config),
    "qwen2": Architecture(qwen2_tokenizer, qwen2_config),
    "llama": Architecture(smollm2_tokenizer, llama_config),
    "gpt2": Architecture(gpt2_tokenizer, gpt2_config),
    "deberta-v2": Architecture(deberta_v2_tokenizer, deberta_v2_config),
    "roberta": Architecture(roberta_tokenizer, roberta_config),
    "xlm-roberta": Architecture(xlm_roberta_tokenizer, xlm_roberta_config),
    "distilbert": Architecture(distilbert_tokenizer, distilbert_config),
    "bert": Architecture(bert_tokenizer, bert_config),
}


# --- building ------------------------------------------------------------------------------------


def build_twin(conventions: Conventions, kind: str, folder: Path) -> Path:
    """Save a tiny random model of `conventions.model_type` with the head `kind` needs, loadable like a checkpoint."""
    architecture = ARCHITECTURES[conventions.model_type]
    tokenizer = architecture.tokenizer(folder)
    config = architecture.config(tokenizer)
    if conventions.labels:
        config.id2label = dict(enumerate(conventions.labels))
        config.label2id = {label: index for index, label in enumerate(conventions.labels)}
    if conventions.problem_type:
        config.problem_type = conventions.problem_type
    if not conventions.tokenizer_limit:
        tokenizer.model_max_length = int(1e30)  # what transformers assumes when a checkpoint states no limit
    torch.manual_seed(0)
    model = getattr(transformers, AUTO_CLASSES[kind]).from_config(config)
    if model.can_generate():
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_qwen2(folder: Path) -> Path:
    """A tiny Qwen2.5-Instruct twin on its own (head_dim 64, ChatML), e.g. for a local vLLM server."""
    return build_twin(DEFAULT_MODELS["Qwen/Qwen2.5-0.5B-Instruct"], "causal-lm", folder)


def missing_twins(
    models_file: Path,
    known: dict[str, Conventions] = DEFAULT_MODELS,
    architectures: dict[str, Architecture] = ARCHITECTURES,
) -> list[str]:
    """What keeps a models file's models from having twins: an unknown model id or an architecture without a builder."""
    problems = []
    for task, entries in (yaml.safe_load(models_file.read_text(encoding="utf-8")) or {}).items():
        for raw in entries or []:
            model = raw["model"] if isinstance(raw, dict) else raw
            if model not in known:
                problems.append(f"{task}: {model} is not in tests/twins.py DEFAULT_MODELS (add its model_type)")
            elif known[model].model_type not in architectures:
                problems.append(
                    f"{task}: {model} is a {known[model].model_type!r}, which has no twin builder in "
                    "tests/twins.py ARCHITECTURES"
                )
    return problems


@dataclass(frozen=True)
class Twins:
    root: Path
    models_file: Path  # assets/models.yaml with each model replaced by its twin's folder, names and options kept
    folders: dict[tuple[str, str], Path]  # (task, default model id) -> twin folder

    def folder(self, task: str, model_id: str) -> Path:
        return self.folders[(task, model_id)]


def build_twins(root: Path, models_file: Path) -> Twins:
    """A twin of every model a models file lists, and a models file that offers the twins under the same names."""
    transformers.utils.logging.disable_progress_bar()
    data = yaml.safe_load(models_file.read_text(encoding="utf-8"))
    folders: dict[tuple[str, str], Path] = {}
    for task, entries in data.items():
        for entry in entries:
            folder = root / task / entry["model"].replace("/", "--")
            folders[(task, entry["model"])] = build_twin(DEFAULT_MODELS[entry["model"]], TASK_KINDS[task], folder)
            entry["model"] = str(folder)
    twins_file = root / "models.yaml"
    twins_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return Twins(root=root, models_file=twins_file, folders=folders)
