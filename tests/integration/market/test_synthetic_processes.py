"""SyntheticSource gives the same bars in separate processes (whatever their hash seed) as in this one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource

JAN_1_2024 = 1_704_067_200
REQUESTS = [
    ("BTC-USD", "1m", JAN_1_2024, JAN_1_2024 + 2 * 86_400),
    ("DOGE-USD", "1h", JAN_1_2024 - 400 * 86_400, JAN_1_2024 + 17),
    ("ETH-USD", "1d", 1_420_070_400, JAN_1_2024),
]
SCRIPT = """
import json, sys
from gpt_trader.market.granularity import Granularity
from gpt_trader.market.sources.synthetic import SyntheticSource
source = SyntheticSource(seed=int(sys.argv[1]))
requests = json.loads(sys.argv[2])
print(json.dumps([source.fetch(p, Granularity.parse(g), a, b).fingerprint() for p, g, a, b in requests]))
"""


def fingerprints_in_a_new_process(seed: int, hash_seed: str) -> list[str]:
    environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(seed), json.dumps(REQUESTS)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=True,
    )
    return list(json.loads(completed.stdout))


def test_two_processes_and_this_one_agree() -> None:
    source = SyntheticSource(seed=21)
    here = [source.fetch(p, Granularity.parse(g), a, b).fingerprint() for p, g, a, b in REQUESTS]
    assert fingerprints_in_a_new_process(21, "1") == here
    assert fingerprints_in_a_new_process(21, "987") == here
    assert fingerprints_in_a_new_process(22, "1") != here
