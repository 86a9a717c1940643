"""``trackassist`` entry point: dispatches to one module per sub-command.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int``.
Errors of the project's own types are printed as one line (no traceback) and
exit with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from app.core.errors import TrackAssistError

# name -> (module, one-line help).  Modules are imported lazily so that
# `trackassist --help` does not pay for torch or Qt.
COMMANDS: dict[str, tuple[str, str]] = {
    "gui": ("app.cli.gui_cmd", "open the desktop application (default)"),
    "track": ("app.cli.track_cmd", "propagate a box through a video headless"),
    "export": ("app.cli.convert_cmd", "export a project to COCO, GOT-10k or YouTube-VIS"),
    "import": ("app.cli.convert_cmd", "import COCO, GOT-10k or YouTube-VIS into a project"),
    "bench": ("app.cli.bench_cmd", "benchmark trackers on a GOT-10k-style folder"),
    "proxy": ("app.cli.proxy_cmd", "build the display proxy VIDEO.taproxy for fast scrubbing of long videos"),
    "trackers": ("app.cli.trackers_cmd", "list the registered trackers"),
    "train": ("app.cli.train_cmd", "train a tracker's learned parts"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackassist", description="Video annotation with deep trackers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        # Only the chosen command's module is imported (to add its arguments).
        if name == wanted:
            module = importlib.import_module(module_name)
            module.add_arguments(p, name) if _takes_name(module) else module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def _takes_name(module) -> bool:
    import inspect

    return len(inspect.signature(module.add_arguments).parameters) > 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS and not argv[0].startswith("-"):
        if not argv:
            argv = ["gui"]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 1
    try:
        return int(args._module.run(args) or 0)
    except TrackAssistError as exc:
        print(f"trackassist {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"trackassist {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
