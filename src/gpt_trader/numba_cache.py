"""Where Numba keeps compiled code: one folder per version of the compiled sources, so an edit never runs stale.

Numba's on-disk cache checks a compiled function against its own file only. The backtest kernel inlines the
position rules (`trading/rules.py`) and the metrics (`backtest/metrics.py`) and freezes the constants of
`backtest/settings.py`, so after an edit of any of those the kernel cached earlier would load and silently run
the old code. Imported by the package before anything imports Numba, this points `NUMBA_CACHE_DIR` (unless it is
set already) at `<cache dir>/numba/<hash of the compiled sources>`: an edit gives a fresh folder, and going back
to sources seen before finds their folder again. The cache dir is `GPT_TRADER_CACHE_DIR`, else
`$XDG_CACHE_HOME/gpt-trader`, else `~/.cache/gpt-trader`; old folders may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent

COMPILED_SOURCES = (
    "backtest/kernel.py",
    "backtest/metrics.py",
    "backtest/settings.py",
    "trading/rules.py",
    "trading/stepper.py",
    "strategies/indicators.py",
    "strategies/ticks.py",
    "strategies/builtin/*.py",
    "market/sources/synthetic.py",
)
"""Every module Numba compiles, and what they read as compile-time constants (paths relative to the package)."""


def sources_digest(package: Path = PACKAGE) -> str:
    """A short hash of the compiled sources' names and contents."""
    digest = hashlib.sha256()
    for pattern in COMPILED_SOURCES:
        for path in sorted(package.glob(pattern)):
            digest.update(path.relative_to(package).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_root(environ: MutableMapping[str, str]) -> Path:
    """GPT-Trader's cache dir by the same rule as the settings' default (the config file is not read: too slow)."""
    explicit = environ.get("GPT_TRADER_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gpt-trader"


def point_numba_cache(environ: MutableMapping[str, str] = os.environ, package: Path = PACKAGE) -> None:
    """Set NUMBA_CACHE_DIR to this version's folder, unless the user chose one or the folder cannot be made."""
    if environ.get("NUMBA_CACHE_DIR"):
        return
    folder = cache_root(environ) / "numba" / sources_digest(package)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # Numba then caches beside the sources, as it does by default
    environ["NUMBA_CACHE_DIR"] = str(folder)
    if "numba" in sys.modules:  # imported before GPT-Trader: it has read its settings already
        sys.modules["numba"].core.config.reload_config()


point_numba_cache()
