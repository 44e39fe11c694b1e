"""Shared fixtures: tiny local models and a models.yaml pointing at them; no network needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from served_app import served_app
from tiny_models import TinyModels, build_tiny_models

CHROMIUM = "/usr/bin/chromium"  # Debian's: Playwright's own download is not reachable from here
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Build the tiny models once and point the app's registry at them for the whole session."""
    root = tmp_path_factory.mktemp("tiny-models")
    models = build_tiny_models(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLM_DEMO_MODELS", str(models.models_file))
        patch.setenv("LLM_DEMO_FINETUNE_DIR", str(root / "finetuned"))
        patch.setenv("LLM_DEMO_DB", str(root / "llm_demo.sqlite3"))
        yield models


@pytest.fixture(scope="session")
def registry(tiny: TinyModels):
    from llm_demo.registry import Registry

    return Registry.load()


@pytest.fixture(scope="session")
def load(registry):
    """Load a registry model by task and display name, through the app's own cache."""
    from llm_demo.models import get_model

    def _load(task: str, name: str, kind: str, **options):
        return get_model(registry.resolve(task, name), kind, **options)

    return _load


@pytest.fixture(scope="session")
def plain(load):
    """The tiny GPT-2 without a chat template, as the generation tab loads it."""
    return load("generation", "Tiny GPT-2", "causal-lm")


@pytest.fixture(scope="session")
def app_url(tiny):
    """The whole app on 127.0.0.1 (a free port), serving the tiny models."""
    with served_app() as url:
        yield url


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def twins(tmp_path_factory: pytest.TempPathFactory):
    """Tiny twins of every default model in assets/models.yaml (tests/twins.py), built once."""
    from twins import build_twins

    from llm_demo.settings import ASSETS_DIR

    return build_twins(tmp_path_factory.mktemp("twins"), ASSETS_DIR / "models.yaml")


@pytest.fixture(scope="session")
def twin_registry(twins, tiny):
    """The default models' names and options, each served by its twin."""
    from llm_demo.registry import Registry, read_models_file
    from llm_demo.settings import get_settings

    return Registry(read_models_file(twins.models_file), get_settings())


@pytest.fixture(scope="session")
def twin_client(twin_registry):
    """The whole app serving the twins under the default models' names, through gradio_client."""
    from gradio_client import Client

    with served_app(twin_registry) as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="session")
def vllm_servers(tmp_path_factory: pytest.TempPathFactory):
    """The real vLLM servers (tests/vllm_models.py), started once for every test module that uses them.
    test_remote_vllm.py's last test stops the classifier; the chat server runs until the session ends."""
    from vllm_models import start_servers

    servers = start_servers(tmp_path_factory.mktemp("vllm"))
    try:
        yield servers
    finally:
        for server in (servers.chat, servers.classifier):
            server.stop()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run; each test opens its own context from it (see open_app)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_app(browser):
    """Opens the app at a URL in a fresh browser context (its own storage, reading `locale`), once its tabs show;
    every context it opened is closed after the test, passed or failed."""
    contexts = []

    def _open(url: str, locale: str = "en-US"):
        context = browser.new_context(
            locale=locale, extra_http_headers={"Accept-Language": locale}, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto(url)
        page.get_by_role("tab").first.wait_for(timeout=30_000)
        return page

    yield _open
    for context in contexts:
        context.close()
