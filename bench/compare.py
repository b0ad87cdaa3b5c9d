"""Set two benchmark reports side by side: throughput ratios, memory, and where the results differ.

    python -m bench.compare out/gpt-trader-w2.json out/vectorbt-w2.json

Both files are JSON reports of one workload, as `python -m bench.workloads` and
`bench/peers/vectorbt_workloads.py` write them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def key(row: dict[str, Any]) -> tuple[str, str, str]:
    return row["strategy"], row["product"], json.dumps(row["params"], sort_keys=True)


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> list[str]:
    if ours["workload"] != peer.get("workload", ours["workload"]):
        raise SystemExit(f"different workloads: {ours['workload']} and {peer['workload']}")
    lines = [f"{ours['workload']}: {ours['tool']} vs {peer.get('tool', 'peer')}"]
    for figure in ("wall_s", "first_run_s", "backtests_per_s", "bar_evals_per_s", "peak_rss_mb"):
        ratio = ours[figure] / peer[figure] if peer[figure] else float("nan")
        lines.append(f"  {figure:<16} {ours[figure]:>14,.4f} {peer[figure]:>14,.4f}   ratio {ratio:,.2f}")
    peer_rows = {key(row): row for row in peer["backtests"]}
    trades_differ = equity_differ = missing = 0
    for row in ours["backtests"]:
        other = peer_rows.get(key(row))
        if other is None:
            missing += 1
        elif other["trades"] != row["trades"]:
            trades_differ += 1
        elif abs(other["final_equity"] - row["final_equity"]) > 1e-6 * abs(other["final_equity"]):
            equity_differ += 1
    lines.append(
        f"  results: {len(ours['backtests'])} backtests; {trades_differ} differ in trade count, "
        f"{equity_differ} more in final equity (> 1e-6 relative), {missing} have no counterpart"
    )
    lines.append(
        f"  digest: sum_final_equity {ours['sum_final_equity']:.6f} vs {peer['sum_final_equity']:.6f}; "
        f"sum_trades {ours['sum_trades']} vs {peer['sum_trades']}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("ours", type=Path)
    parser.add_argument("peer", type=Path)
    options = parser.parse_args()
    print("\n".join(compare(json.loads(options.ours.read_text()), json.loads(options.peer.read_text()))))


if __name__ == "__main__":
    main()
