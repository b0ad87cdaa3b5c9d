"""`gpt-trader session ...` in real processes forked from a server that has imported the project once, so a
resume after kill -9 starts in a fraction of a second rather than paying the interpreter's imports again."""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

_PRELOAD = ["gpt_trader.cli.app", "gpt_trader.cli.session", "gpt_trader.trading.session_feed"]
_context: ForkServerContext | None = None


def _forks() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(_PRELOAD)
    return _context


def _command_line(args: list[str], environment: dict[str, str]) -> None:
    os.environ.update(environment)
    from gpt_trader.cli.app import main

    sys.argv = ["gpt-trader", *args]
    main()


def start(database_url: str, *args: str) -> BaseProcess:
    """`gpt-trader ARGS...` writing to `database_url`, in a forked process (kill it with `kill_9`)."""
    process = _forks().Process(
        target=_command_line, args=(list(args), {"GPT_TRADER_DATABASE_URL": database_url, "NO_COLOR": "1"})
    )
    process.start()
    return process


def kill_9(process: BaseProcess) -> None:
    process.kill()
    process.join()
