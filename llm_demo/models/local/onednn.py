"""Linear layers whose weights are laid out once for oneDNN, for generating on the CPU.

A decoding step multiplies a few rows (one per request in the batch) by every weight matrix. The GEMM that
nn.Linear calls on the CPU (MKL) is slow for so few rows: on a 2-core AVX2 machine, through forty 3072x1024
layers, 8 rows cost 3.8x one row, where oneDNN with each weight reordered ahead of time costs 1.5x, and
one row is faster too. Through the app, 8 visitors sharing a batch got 1.8x the tokens per second
they got with nn.Linear (bench/run.py). torch.compile's CPU backend does the same reordering when it
freezes a model; doing it at load time spares the compilation, which batch sizes that change every step
would repeat.

A packed weight has no gradient and cannot be saved, so only models loaded to generate text (causal LMs and
translation's sequence-to-sequence models) are packed; classifiers keep nn.Linear for integrated gradients
and fine-tuning.
"""

from __future__ import annotations

import functools

import torch
from torch import nn


class PackedLinear(nn.Module):
    """`x @ weight.T + bias` with the weight in oneDNN's own layout. Inference only."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)  # None: any batch size
        self.bias = None if bias is None else bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _linear_weight_and_bias(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """The (out, in) weight and bias of a layer that multiplies like nn.Linear: nn.Linear itself, and
    GPT-2's Conv1D, which keeps its weight as (in, out)."""
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, nn.Linear):
        return module.weight, module.bias
    if isinstance(module, Conv1D):
        return module.weight.t(), module.bias
    return None


@functools.cache
def packing_works(dtype: torch.dtype) -> bool:
    """Whether oneDNN packs and multiplies `dtype` on this CPU, natively, and agrees with nn.Linear (probed once).

    bf16 and fp16 are packed only where oneDNN has the instructions for them; emulated, they run slower.
    """
    if not (torch.backends.mkldnn.enabled and torch.backends.mkldnn.is_available()):
        return False
    if torch.ops.mkldnn._is_mkldnn_acl_supported():  # ARM's library: not the kernels measured here
        return False
    native = {
        torch.float32: True,
        torch.bfloat16: torch.ops.mkldnn._is_mkldnn_bf16_supported(),
        torch.float16: torch.ops.mkldnn._is_mkldnn_fp16_supported(),
    }
    if not native.get(dtype, False):
        return False
    generator = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(48, 64, generator=generator), torch.randn(48, generator=generator)
    rows = torch.randn(3, 5, 64, generator=generator)
    try:
        with torch.inference_mode():
            packed = PackedLinear(weight.to(dtype), bias.to(dtype))(rows.to(dtype)).float()
    except RuntimeError:
        return False
    tolerance = 1e-4 if dtype == torch.float32 else 5e-2
    return torch.allclose(packed, nn.functional.linear(rows, weight, bias), rtol=tolerance, atol=tolerance * 10)


def pack_linear_layers(model: nn.Module, dtype: torch.dtype) -> int:
    """Swap every linear layer of a CPU model for a PackedLinear; how many were swapped (0 where oneDNN can't).

    A weight tied to the input embeddings (the output layer of most LMs) is copied into the packed layout,
    costing its size once more; the embeddings keep the original.
    """
    if not packing_works(dtype):
        return 0
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            layer = _linear_weight_and_bias(child)
            if layer is not None and layer[0].dtype == dtype and layer[0].device.type == "cpu":
                setattr(parent, name, PackedLinear(*layer))
                swapped += 1
    return swapped
