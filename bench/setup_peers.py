"""Create the peers' virtualenv, bench/.venv-peers/, with vectorbt installed in it.

The peer benchmark runs vectorbt in an environment of its own so that vectorbt's pins (numpy, pandas,
numba, scipy, matplotlib, ...) never reach the project's environment. Run it with any Python 3.11+:

    python bench/setup_peers.py

It is idempotent: when the virtualenv already holds the pinned versions it does nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import venv
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"

# vectorbt's own dependencies come with it; pyarrow is what pandas needs to read the workload's Parquet file.
PINNED_PACKAGES = {"vectorbt": "1.2.0"}
UNPINNED_PACKAGES = ("pyarrow",)


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


def is_ready(python: Path) -> bool:
    """True when every pinned package has its pinned version and every other package is present."""
    if not python.exists():
        return False
    pinned_ok = all(installed_version(python, name) == version for name, version in PINNED_PACKAGES.items())
    return pinned_ok and all(installed_version(python, name) is not None for name in UNPINNED_PACKAGES)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, default=PEERS_VENV, help="where to create the virtualenv")
    args = parser.parse_args(argv)
    venv_dir: Path = args.venv

    python = venv_python(venv_dir)
    if is_ready(python):
        print(f"peers virtualenv ready: {venv_dir} (vectorbt {PINNED_PACKAGES['vectorbt']})")
        return 0

    if not python.exists():
        print(f"creating virtualenv {venv_dir} with {sys.executable}")
        venv.EnvBuilder(with_pip=True, clear=False).create(venv_dir)
        python = venv_python(venv_dir)

    requirements = [f"{name}=={version}" for name, version in PINNED_PACKAGES.items()]
    requirements.extend(UNPINNED_PACKAGES)
    print("installing " + " ".join(requirements))
    subprocess.run([str(python), "-m", "pip", "install", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", *requirements], check=True)

    if not is_ready(python):
        print(f"error: {venv_dir} still lacks {requirements} after pip install", file=sys.stderr)
        return 1
    print(f"peers virtualenv ready: {venv_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
