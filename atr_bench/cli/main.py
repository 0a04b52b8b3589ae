"""The ``atr-bench`` command line: the parser of every subcommand, where library messages are
shown, and the one place errors become exit codes."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from atr_bench import __version__, logs
from atr_bench.cli.bundle import add_bundle_parser
from atr_bench.cli.compare import add_compare_parser
from atr_bench.cli.data import add_data_parser
from atr_bench.cli.extract import add_extract_parser
from atr_bench.cli.leaderboard import add_leaderboard_parser
from atr_bench.cli.listing import add_list_parser
from atr_bench.cli.run import add_run_parser, add_sweep_parser
from atr_bench.errors import AtrBenchError
from atr_bench.run.allocator import huge_pages_for_large_tensors


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusal of a flag or value is one line (no usage block), as
    every other error of the command line is; its subcommands' parsers are of this class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message.splitlines()[0]} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="atr-bench", description="Audio-text retrieval benchmark harness.")
    parser.add_argument("--version", action="version", version=f"atr-bench {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error (and of each failed run of a sweep) "
        "instead of one line",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_sweep_parser(sub)
    add_extract_parser(sub)
    add_data_parser(sub)
    add_leaderboard_parser(sub)
    add_compare_parser(sub)
    add_bundle_parser(sub)
    add_list_parser(sub)
    from atr_bench.dev.scaffold import add_new_plugin_parser

    add_new_plugin_parser(sub)
    from atr_bench.perf.bench import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    huge_pages_for_large_tensors()  # before torch is imported
    args = build_parser().parse_args(argv)
    logs.to_stderr(logging.DEBUG if args.debug else logging.INFO)
    try:
        return args.func(args)
    except AtrBenchError as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"atr-bench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output was piped into a program that stopped reading (head)
        _drop_stdout()
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("atr-bench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and exc.filename:
            print(
                f"atr-bench: error: {exc.filename}: {exc.strerror}; nothing was changed there: "
                "give a folder you can write to",
                file=sys.stderr,
            )
            return 2
        if exc.errno not in (errno.ENOSPC, errno.EIO):
            return _unexpected(exc, args.debug)
        _drop_stdout()  # files are written atomically with their own message: this is stdout
        print(f"atr-bench: error: cannot write the output ({exc.strerror})", file=sys.stderr)
        return 2
    except Exception as exc:  # from a plugin's code, or a bug: one line, where it was raised
        return _unexpected(exc, args.debug)


def _unexpected(exc: BaseException, debug: bool) -> int:
    """An exception nothing turned into an ``AtrBenchError``: the traceback with ``--debug``,
    else one line naming it and the file and line it came from (a plugin's, often)."""
    if debug:
        traceback.print_exc()
        return 2
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (raised at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    text = str(exc).splitlines()[0] if str(exc) else ""
    print(
        f"atr-bench: error: {type(exc).__name__}: {text}{where}; --debug shows the traceback",
        file=sys.stderr,
    )
    return 2


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
