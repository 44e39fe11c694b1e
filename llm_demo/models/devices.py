"""Where models run and in what precision: CUDA, then Apple MPS, then the CPU; half precision where the
hardware is built for it."""

from __future__ import annotations

import os
import platform

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU, unless $LLM_DEMO_DEVICE names one."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively, as torch reports it: AVX512-BF16 or AMX on x86, BF16 on ARM.

    Elsewhere torch emulates bf16 with conversions and it runs slower than fp32, so the choice follows the
    instruction sets, not the machine's name. (`torch.backends.cpu.get_cpu_capability()` stops at "AVX512",
    and oneDNN's bf16 check on x86 also accepts plain AVX512, which emulates.)
    """
    if platform.machine().lower() in {"aarch64", "arm64"}:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def pick_dtype(device: torch.device, preference: str = "auto") -> torch.dtype:
    """Half precision where the hardware is built for it, fp32 elsewhere, unless $LLM_DEMO_DTYPE names one."""
    if preference != "auto":
        return getattr(torch, preference)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


def free_memory(device: torch.device) -> int:
    """Bytes free for new tensors on `device`: the GPU's free memory, or the memory the OS says is available
    (page cache included, which it gives back), or a gigabyte where it says neither."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 2**30
