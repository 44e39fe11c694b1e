"""The Gradio app: one module per tab, each a thin layer of widgets over the backend."""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Any

import gradio as gr

from ..registry import Registry
from ..settings import ASSETS_DIR, get_settings
from ..warm_start import preload_defaults
from .carry import connect
from .common import ResultTable, bind
from .i18n import Translations, language_of, t
from .mcp_tools import ERRORS_ZH as TOOL_ERRORS_ZH
from .mcp_tools import serve_tools

# Tab modules (ui/<name>_tab.py) in the order the tabs appear. Each has TEXT (its strings),
# optionally ERRORS_ZH (Chinese for its backend's error keys), and build(registry), which may
# return the ResultTables whose empty headers are filled in the reader's language on page load,
# and the buttons that carry its input to another tab's view and the views that receive it (carry.py).
TABS = (
    "translation",
    "generation",
    "chat",
    "compare",
    "arena",
    "classification",
    "sentiment",
    "qa",
    "evaluation",
    "answers",
    "finetune",
    "inside",
    "whatif",
)
LIGHT_WORK_CONCURRENCY = 4  # short requests (sentiment, QA...) served side by side
QUEUE_SIZE = 128  # beyond this, new requests are told the app is busy instead of waiting forever
QUEUE_POLL_SECONDS = 0.02  # how often Gradio's queue looks for a request to start; Gradio polls every 1 ms
PROGRESS_POLL_SECONDS = 0.05  # how often it looks for progress to send (Gradio: 10 ms); 20 updates a second


def tab_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}_tab") for name in TABS]


@functools.cache
def translations() -> Translations:
    modules = tab_modules()
    errors = [getattr(module, "ERRORS_ZH", {}) for module in modules] + [TOOL_ERRORS_ZH]
    return Translations((module.TEXT for module in modules), errors)


def build_app(registry: Registry | None = None) -> gr.Blocks:
    """Build the whole app; launching is left to the caller so tests can import it."""
    registry = registry or Registry.load()
    with gr.Blocks(title="llm_demo") as demo:
        gr.Markdown(t("app.title"))
        built: list = []
        with gr.Tabs() as tabs:
            for module in tab_modules():
                built += module.build(registry) or []
        tables = [item for item in built if isinstance(item, ResultTable)]
        connect(tabs, built)
        demo.load(bind(empty_tables, tables), outputs=[table.component for table in tables], api_visibility="private")
        if registry.settings.mcp:  # LLM_DEMO_MCP=1: agents call the tasks as tools (docs/deploying.md)
            serve_tools(demo, registry)
    demo.queue(default_concurrency_limit=LIGHT_WORK_CONCURRENCY, max_size=QUEUE_SIZE)
    poll_less(demo._queue)
    if registry.settings.preload:  # LLM_DEMO_PRELOAD=1: defaults load in the background, the page answers now
        preload_defaults(registry)
    return demo


def poll_less(queue: Any) -> None:
    """Let Gradio's queue wake 50 times a second rather than 1,000 (its default away from Windows).

    Each wake-up of the server's event loop takes a core from torch's OpenMP threads, and a parallel region
    waits for its slowest thread: on 2 cores, the idle app used a tenth of a core this way, and decoding
    steps with 8 visitors streaming ran 10-15% faster without it. A request now waits at most 20 ms to start.
    """
    queue.sleep_when_free = QUEUE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS


def empty_tables(tables: list[ResultTable], request: gr.Request) -> list:
    language = language_of(request)
    return [table.empty(language) for table in tables]


def launch_options() -> dict[str, Any]:
    """How the app is served: loopback unless GRADIO_SERVER_NAME says otherwise, never shared by itself."""
    return {
        "i18n": translations().gradio(),
        "share": False,
        "max_file_size": f"{get_settings().max_upload_mb}mb",
        "show_error": True,
        "css_paths": [ASSETS_DIR / "style.css"],
        "ssr_mode": False,
        "mcp_server": get_settings().mcp,  # explicit, so GRADIO_MCP_SERVER alone cannot list the arena as tools
        "max_threads": QUEUE_SIZE + LIGHT_WORK_CONCURRENCY,  # a stream holds a worker thread while it waits
    }
