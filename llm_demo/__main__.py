"""Command line: `python -m llm_demo evaluate|finetune|download|preferences ...` (and whatever else COMMANDS lists).

Each command module registers its own subcommand, so this file stays small and start-up stays fast:
heavy libraries are imported only once a command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UserFacingError

# Modules that each expose add_parser(subparsers), registering a subcommand with set_defaults(run=callable).
COMMANDS = ("llm_demo.evaluation.cli", "llm_demo.finetune.cli", "llm_demo.warm_start", "llm_demo.preferences")
USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llm_demo", description="Hugging Face language models: evaluate (and more) from the shell."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a problem the user can fix is one line on stderr and exit code 2, never a traceback."""
    arguments = build_parser().parse_args(argv)
    try:
        return int(arguments.run(arguments) or 0)
    except (UserFacingError, ValueError) as error:  # ValueError: a broken models file or environment variable
        print(f"error: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
