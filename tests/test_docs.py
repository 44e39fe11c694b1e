"""The docs say what the code and the benchmark do: the figures are one run's, every module and environment
variable is named, the fresh-machine commands hold, and the links between pages land."""

from __future__ import annotations

import re
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def layout_paths(document: str) -> set[str]:
    """Every path the layout block names, folders ending in '/': a name nests under the folder two spaces above."""
    block = document.split("## Layout", 1)[1].split("```", 2)[1]
    paths, folders = set(), []  # folders: the open folder at each depth
    for line in block.splitlines():
        if not line.strip():
            continue
        depth, name = (len(line) - len(line.lstrip())) // 2, line.split()[0]
        if depth > len(folders):
            continue  # a description carried on from the line above
        del folders[depth:]
        paths.add("".join(folders) + name)
        if name.endswith("/"):
            folders.append(name)
    return paths


def heading_anchors(document: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", document, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_performance_table_is_the_one_bench_report_renders_from_latest_json():
    document = read(ROOT / "docs" / "performance.md")
    assert report.table_in(document) == report.markdown(report.latest()), (
        "docs/performance.md's table is not bench/results/latest.json's: run python bench/report.py"
    )


def test_readme_room_table_is_the_one_bench_report_renders_from_latest_json():
    document = read(ROOT / "README.md")
    assert report.table_in(document, report.ROOM_START, report.ROOM_END) == report.readme_room(report.latest()), (
        "README.md's table of the room is not bench/results/latest.json's: run python bench/report.py"
    )


def test_the_table_says_which_run_and_machine_its_figures_come_from():
    machine = {
        "python": "3.11.7",
        "torch": "2.13.0+cpu",
        "cpu_count": 2,
        "threads": 2,
        "platform": "Linux-x86_64",
        "cuda": None,
    }
    assert report.run_line({"quick": False, "date": "2026-12-01", "machine": machine}) == (
        "From one full run of `python bench/run.py` on 2026-12-01 (`bench/results/latest.json`): 2 CPU cores "
        "(2 torch threads), no GPU, Python 3.11.7, torch 2.13.0+cpu, Linux-x86_64."
    )
    assert report.run_line({"quick": True, "machine": {**machine, "cuda": "NVIDIA H200"}}).startswith(
        "From one quick run of `python bench/run.py` (`bench/results/latest.json`): 2 CPU cores (2 torch threads), "
        "NVIDIA H200,"
    )


def test_every_module_under_llm_demo_is_named_in_the_architecture_layout():
    named = layout_paths(read(ROOT / "docs" / "architecture.md"))
    package = ROOT / "llm_demo"
    modules = [path.relative_to(ROOT) for path in package.rglob("*.py") if "__pycache__" not in path.parts]
    wanted = {
        f"{module.parent.as_posix()}/" if module.name == "__init__.py" else module.as_posix() for module in modules
    }
    missing = sorted(path.removeprefix("llm_demo/") or "llm_demo/" for path in wanted - named)
    assert not missing, f"docs/architecture.md's layout does not name: {', '.join(missing)}"


def test_every_environment_variable_the_app_and_scripts_read_is_documented():
    sources = [*(ROOT / "llm_demo").rglob("*.py"), *(ROOT / "scripts").iterdir(), ROOT / "app.py"]
    variables = {
        name
        for path in sources
        if path.is_file()
        for name in re.findall(r"\bLLM_DEMO_[A-Z0-9_]*[A-Z0-9]\b", read(path))
    }
    documented = "\n".join(read(page) for page in PAGES)
    assert {"LLM_DEMO_MODELS", "LLM_DEMO_DTYPE", "LLM_DEMO_VLLM_VENV"} <= variables
    assert sorted(name for name in variables | {"SPACE_ID"} if f"`{name}" not in documented) == []


def test_readme_keeps_the_fresh_machine_commands_and_the_torch_version_the_tests_install():
    readme = read(ROOT / "README.md")
    cpu_torch = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"  # the CPU build on any machine
    assert f"pip install {cpu_torch} && pip install -r requirements.txt && python app.py" in readme
    assert "\nbash scripts/test.sh\n" in readme
    assert f"python -m pip install --quiet --retries 0 {cpu_torch}" in read(ROOT / "scripts" / "test.sh")
    assert readme.startswith("---\ntitle: llm_demo\n") and len(readme.splitlines()) <= 250


def test_links_between_pages_land_on_a_file_and_heading_that_exist():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", read(page)):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            if not linked.exists() or (anchor and anchor not in heading_anchors(read(linked))):
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
