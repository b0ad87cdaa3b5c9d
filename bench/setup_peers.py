"""Create the peers' virtualenvs: bench/.venv-peers/ with vectorbt, bench/.venv-peers-nautilus/ with nautilus-trader.

Each peer runs in an environment of its own so that its pins (vectorbt's numpy, pandas, numba, scipy, ...;
nautilus-trader's pandas < 3) never reach the project's environment, nor each other. Run it with any
Python 3.11+:

    python bench/setup_peers.py                    # both
    python bench/setup_peers.py --peer nautilus    # one

It is idempotent: when a virtualenv already holds the pinned versions it does nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"

NAUTILUS_VENV = BENCH_DIR / ".venv-peers-nautilus"

# vectorbt's own dependencies come with it; pyarrow is what pandas needs to read the workload's Parquet file.
PINNED_PACKAGES = {"vectorbt": "1.2.0"}
UNPINNED_PACKAGES = ("pyarrow",)
# nautilus-trader 1.221 needs pandas < 3 and brings it; pyarrow reads the bars' Parquet file.
NAUTILUS_PINNED = {"nautilus_trader": "1.221.0"}
NAUTILUS_UNPINNED = ("pyarrow",)
NAUTILUS_REQUIREMENTS = ("nautilus_trader==1.221.0", "pandas<3", "pyarrow")


def venv_python(venv_dir: Path) -> Path:
    """Path of the interpreter inside a virtualenv (POSIX and Windows layouts)."""
    posix = venv_dir / "bin" / "python"
    return posix if posix.exists() else venv_dir / "Scripts" / "python.exe"


def installed_version(python: Path, distribution: str) -> str | None:
    """Version of `distribution` installed for `python`, or None when it is absent."""
    probe = (
        "import importlib.metadata as m, sys\n"
        "try:\n"
        f"    print(m.version({distribution!r}))\n"
        "except m.PackageNotFoundError:\n"
        "    sys.exit(1)\n"
    )
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def is_ready(
    python: Path, pinned: dict[str, str] = PINNED_PACKAGES, unpinned: tuple[str, ...] = UNPINNED_PACKAGES
) -> bool:
    """True when every pinned package has its pinned version and every other package is present."""
    if not python.exists():
        return False
    pinned_ok = all(installed_version(python, name) == version for name, version in pinned.items())
    return pinned_ok and all(installed_version(python, name) is not None for name in unpinned)


def set_up(venv_dir: Path, pinned: dict[str, str], unpinned: tuple[str, ...], requirements: list[str]) -> int:
    """Create `venv_dir` and install `requirements` there unless `pinned` and `unpinned` are already in it."""
    python = venv_python(venv_dir)
    described = ", ".join(f"{name} {version}" for name, version in pinned.items())
    if is_ready(python, pinned, unpinned):
        print(f"peers virtualenv ready: {venv_dir} ({described})")
        return 0

    if not python.exists():
        print(f"creating virtualenv {venv_dir} with {sys.executable}")
        venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
        python = venv_python(venv_dir)

    print("installing " + " ".join(requirements))
    subprocess.run([str(python), "-m", "pip", "install", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", *requirements], check=True)

    if not is_ready(python, pinned, unpinned):
        print(f"error: {venv_dir} still lacks {requirements} after pip install", file=sys.stderr)
        return 1
    print(f"peers virtualenv ready: {venv_dir} ({described})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=("all", "vectorbt", "nautilus"), default="all", help="which peer to set up")
    parser.add_argument("--venv", type=Path, default=PEERS_VENV, help="where to create vectorbt's virtualenv")
    parser.add_argument(
        "--nautilus-venv", type=Path, default=NAUTILUS_VENV, help="where to create nautilus-trader's virtualenv"
    )
    args = parser.parse_args(argv)
    status = 0
    if args.peer in ("all", "vectorbt"):
        vectorbt = [f"{name}=={version}" for name, version in PINNED_PACKAGES.items()] + list(UNPINNED_PACKAGES)
        status = set_up(args.venv, PINNED_PACKAGES, UNPINNED_PACKAGES, vectorbt)
    if args.peer in ("all", "nautilus"):
        status = status or set_up(args.nautilus_venv, NAUTILUS_PINNED, NAUTILUS_UNPINNED, list(NAUTILUS_REQUIREMENTS))
    return status


if __name__ == "__main__":
    sys.exit(main())
