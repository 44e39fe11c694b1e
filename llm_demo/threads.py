"""Torch work outside the generation engine runs on a thread that ends with it.

torch's CPU ops run on OpenMP (libgomp), which gives every thread that starts a parallel region a team of
worker threads, kept for as long as that thread lives. Once all the teams together hold more threads than
the machine has cores, libgomp stops spinning between parallel regions and each region pays to wake its
sleeping workers. Gradio's worker threads live on after a request, so a model loaded or a batch classified
on one of them left a team behind, and from then on every decoding step of the engine (tasks/scheduler.py),
a few hundred parallel regions, ran a quarter to a third slower on 2 cores. A thread that ends takes its
team with it; the engine's thread keeps the one team that lives on.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Result = TypeVar("Result")


def on_fresh_thread(work: Callable[[], Result]) -> Result:
    """`work()` on a new thread that ends before this returns: its result, or its exception raised here.

    The caller's context variables (who is watching a model load, for one) go with it. Starting a thread
    and its OpenMP team costs well under a millisecond, against the tens of milliseconds of a batch.
    """
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm_demo-torch") as pool:
        return pool.submit(context.run, work).result()
