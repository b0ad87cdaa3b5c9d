"""`tasks.py`'s install: it says what it installs and turns pip's log into one line per package."""

from __future__ import annotations

import tasks

# pip 26's output, in its shapes, for an editable install of a project with two dependencies to fetch (one
# from an index, one a local wheel) and one already installed.
PIP_OUTPUT = """\
Looking in indexes: https://pypi.org/simple
Obtaining file:///home/user/gpt-trader
  Installing build dependencies: started
  Installing build dependencies: finished with status 'done'
Collecting msgspec>=0.18
  Downloading msgspec-0.23.0-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl (232 kB)
Processing /opt/pypi/files/pyjwt-2.15.1-py3-none-any.whl
Requirement already satisfied: numpy<2.5,>=2.0 in ./.venv/lib/python3.11/site-packages (2.3.4)
Building wheels for collected packages: gpt-trader
Installing collected packages: pyjwt, msgspec, gpt-trader
Successfully installed gpt-trader-0.1.0 msgspec-0.23.0 pyjwt-2.15.1
""".splitlines(keepends=True)


def test_pip_output_becomes_a_line_per_package_and_per_step_and_passes_through_whole() -> None:
    said: list[str] = []
    passed = list(tasks.report_progress(PIP_OUTPUT, said.append))
    assert passed == PIP_OUTPUT, "every line is kept, for the error report when pip fails"
    assert said == [
        "  [   ] GPT-Trader itself (editable: your changes to src/ take effect without reinstalling)",
        "  [  1] fetching msgspec",
        "  [  2] fetching pyjwt",
        "  unpacking and installing 3 packages (the longest step) ...",
    ]


def test_requirement_and_package_names() -> None:
    assert tasks.requirement_name("numba>=0.61,<0.70") == "numba"
    assert tasks.requirement_name("psycopg[binary]>=3.2") == "psycopg"
    assert tasks.requirement_name("python-dotenv>=1.0") == "python-dotenv"
    assert tasks.package_name("/opt/pypi/files/pyjwt-2.15.1-py3-none-any.whl") == "pyjwt"
    assert tasks.package_name("numpy<2.5,>=2.0") == "numpy"


def test_the_install_is_announced_with_the_packages_it_brings() -> None:
    said = tasks.what_is_installed()
    assert "numba" in said and "pandas" in said and "pytest" in said and "mypy" in said
    assert ".venv/" in said and "only when pyproject.toml changes" in said
