"""Running the real `gpt-trader` command in a subprocess, as a user would, with plain (uncoloured) output."""

from __future__ import annotations

import os
import subprocess
import sys


def gpt_trader(
    *args: str, env: dict[str, str] | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gpt_trader", *args], capture_output=True, text=True, env=environment, timeout=300
    )
