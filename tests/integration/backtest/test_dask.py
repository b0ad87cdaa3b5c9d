"""Sweeps on a real Dask scheduler and two workers on loopback: the local runner's results, even when a worker dies."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import pytest

from gpt_trader.backtest.api import sweep
from gpt_trader.backtest.dask import KEPT_CONTEXTS, connect
from gpt_trader.backtest.metrics import METRIC_NAMES
from gpt_trader.backtest.optimize import Evaluation, optimize
from gpt_trader.backtest.runner import RunContext
from gpt_trader.backtest.settings import SimulationSettings
from gpt_trader.errors import UserError
from gpt_trader.market.bars import Bars
from gpt_trader.strategies.base import IndicatorCache, Param, Params, Strategy
from tests.support.loopback_http import free_port
from tests.support.synthetic_bars import off_grid_bars

pytest.importorskip("distributed")
SPACE = {"ma_crossover": {"fast": "2:30:2", "slow": "20:200:10"}}


@contextmanager
def dask_cluster(
    workers: int, nanny: bool = False, allowed_failures: int = 3
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and `workers` single-thread workers on loopback, each its own process (or a nanny's).

    The scheduler gives up on a task after `allowed_failures` workers died running it. It runs without the
    active memory manager, as docs/optimisation.md says to start one: otherwise it drops a worker's idle copy
    of a run's bars whenever its 2-second cycle comes between two sweeps."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    common = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard", "--no-show"],
        env={**env, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(allowed_failures),
             "DASK_DISTRIBUTED__SCHEDULER__ACTIVE_MEMORY_MANAGER__START": "False"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
             "--nanny" if nanny else "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "60"],
            **common,  # type: ignore[call-overload]
        )
        for _ in range(workers)
    ]
    try:
        yield address, processes
    finally:
        # Workers first: a nanny whose scheduler is gone waits long before it exits.
        for group in (processes, [scheduler]):
            for process in group:
                process.terminate()
            for process in group:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    with dask_cluster(2) as running:
        yield running


class KillsItsWorker(Strategy):
    """Ends the Dask worker process that runs it on its largest `n` (and runs anywhere else)."""

    name = "kills_its_worker"
    params: ClassVar[dict[str, Param]] = {"n": Param(1, 1, 8)}

    def lookback(self, params: Params) -> int:
        return 1

    def signals(self, bars: Bars, params: Params, cache: IndicatorCache | None = None) -> np.ndarray:
        from distributed import get_worker

        try:
            get_worker()
        except ValueError:  # not on a worker: the sweep's kernel warm-up in the test's own process
            pass
        else:
            if params["n"] == 8:
                os._exit(1)
        return np.zeros(len(bars), dtype=np.int8)


def _bars(count: int) -> dict[str, Bars]:
    products = ["BTC-USD", "ETH-USD"]
    return {p: dataclasses.replace(off_grid_bars(count, seed=s), product_id=p) for s, p in enumerate(products)}


def test_a_sweep_and_an_optimisation_on_two_workers_equal_the_local_runner(
    cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, _ = cluster
    bars = _bars(3000)
    local = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, workers=1)
    with connect(address) as executor:
        executor.client.wait_for_workers(2, timeout=60)
        assert executor.workers == 2
        seen: list[int] = []
        remote = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, executor=executor,
                       progress=lambda done, total: seen.append(done))
        optimised = optimize("ma_crossover", list(bars), params=SPACE["ma_crossover"], method="grid", bars=bars,
                             executor=executor, evaluation=Evaluation(folds=3))
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(remote.table[name], local.table[name], err_msg=name)
    assert list(remote.table["params"]) == list(local.table["params"])
    assert seen == sorted(seen) and seen[-1] == len(local.table)  # streamed back job by job
    locally = optimize("ma_crossover", list(bars), params=SPACE["ma_crossover"], method="grid", bars=bars,
                       workers=1, evaluation=Evaluation(folds=3))
    for name in (*METRIC_NAMES, "oos_sharpe", "oos_return"):
        np.testing.assert_array_equal(optimised.table[name], locally.table[name], err_msg=name)
    assert [c.verdict for c in optimised.candidates] == [c.verdict for c in locally.candidates]


def _hold_context(key: str, dask_worker: Any) -> bool:
    """Keep the worker's copy of the context `key` aside, to tell later whether it was replaced."""
    dask_worker.held_context = dask_worker.data[key]
    return True


def _same_context(key: str, dask_worker: Any) -> bool:
    return key in dask_worker.data and dask_worker.data[key] is dask_worker.held_context


def test_bars_are_sent_once_per_worker_and_a_second_sweep_on_equal_bars_sends_only_its_jobs(
    cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, _ = cluster
    bars = _bars(2000)
    with connect(address) as executor:
        client = executor.client
        client.wait_for_workers(2, timeout=60)
        first = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, executor=executor)
        sent = executor.send(RunContext(bars, first.settings))
        holders = client.who_has(sent)[sent.key]
        assert sorted(holders) == sorted(client.nthreads())  # on both workers, as one task's input
        assert all(client.run(_hold_context, sent.key).values())
        time.sleep(2.5)  # longer than an active memory manager's cycle, which would drop one copy now
        # Equal bars in new objects: the workers' copy serves the sweep, nothing is scattered again.
        again = {p: dataclasses.replace(b, close=b.close.copy()) for p, b in bars.items()}
        second = sweep(["ma_crossover"], list(again), params=SPACE, bars=again, executor=executor)
        assert executor.send(RunContext(again, second.settings)).key == sent.key
        assert all(client.run(_same_context, sent.key).values())
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(second.table[name], first.table[name], err_msg=name)
        # Other settings are another context: sent anew, while the first one stays for a later run.
        costly = dataclasses.replace(first.settings, fee_rate=0.01)
        third = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, settings=costly, executor=executor)
        other = executor.send(RunContext(bars, costly))
        assert other.key != sent.key and sorted(client.who_has(other)[other.key]) == sorted(holders)
        assert all(client.run(_same_context, sent.key).values())
    local = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, settings=costly, workers=1)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(third.table[name], local.table[name], err_msg=name)


def test_a_local_cluster_keeps_every_workers_copy_of_the_bars_between_runs() -> None:
    with connect("local", workers=1) as executor:
        assert executor.client.amm.running() is False


def _holds(key: str, dask_worker: Any) -> bool:
    return key in dask_worker.data


def test_the_workers_keep_only_the_latest_contexts(cluster: tuple[str, list[subprocess.Popen[bytes]]]) -> None:
    address, _ = cluster
    bars = _bars(500)
    with connect(address) as executor:
        client = executor.client
        client.wait_for_workers(2, timeout=60)
        contexts = [RunContext(bars, SimulationSettings(fee_rate=rate)) for rate in (0.001, 0.002, 0.003)]
        keys = [executor.send(context).key for context in contexts[:KEPT_CONTEXTS]]
        assert all(all(client.run(_holds, key).values()) for key in keys)
        newest = executor.send(contexts[KEPT_CONTEXTS]).key
        assert newest not in keys and all(client.run(_holds, newest).values())
        # The oldest is released: the scheduler frees it on the workers a moment later.
        deadline = time.monotonic() + 30
        while any(client.run(_holds, keys[0]).values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(client.run(_holds, keys[0]).values())
        assert all(all(client.run(_holds, key).values()) for key in [*keys[1:], newest])


def test_a_worker_killed_mid_sweep_neither_loses_nor_duplicates_a_result(
    cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, workers = cluster
    bars = _bars(20_000)
    local = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, workers=1)
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if not killed and done < total:
            workers[0].send_signal(signal.SIGKILL)
            killed.append(done)

    with connect(address) as executor:
        executor.client.wait_for_workers(2, timeout=60)
        remote = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, executor=executor,
                       progress=kill_one_worker)
    assert killed and workers[0].wait(timeout=20) == -signal.SIGKILL
    assert len(remote.table) == len(local.table)
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(remote.table[name], local.table[name], err_msg=name)


def test_losing_the_only_worker_mid_sweep_is_a_clear_error_and_the_next_sweep_sends_the_bars_anew() -> None:
    bars = _bars(200_000)  # jobs long enough that the kill lands while some are left
    local = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, workers=1)
    with dask_cluster(1, nanny=True) as (address, _), connect(address) as executor:
        client = executor.client
        client.wait_for_workers(1, timeout=60)
        sent = executor.send(RunContext(bars, local.settings))
        (pid,) = client.run(os.getpid).values()

        def kill_the_worker(done: int, total: int) -> None:
            if done < total and sent.status == "finished":
                os.kill(pid, signal.SIGKILL)  # its nanny starts a new worker, without the bars

        with pytest.raises(UserError, match="every Dask worker holding the run's bars left mid-run"):
            sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, executor=executor, progress=kill_the_worker)
        client.wait_for_workers(1, timeout=60)
        again = sweep(["ma_crossover"], list(bars), params=SPACE, bars=bars, executor=executor)
        assert executor.send(RunContext(bars, local.settings)).key != sent.key
    for name in METRIC_NAMES:
        np.testing.assert_array_equal(again.table[name], local.table[name], err_msg=name)


def test_a_job_whose_workers_keep_dying_is_a_clear_error() -> None:
    bars = {"BTC-USD": _bars(500)["BTC-USD"]}
    with dask_cluster(2, nanny=True, allowed_failures=0) as (address, _), connect(address) as executor:
        executor.client.wait_for_workers(2, timeout=60)
        with pytest.raises(UserError, match="Dask workers kept dying while running a backtest job"):
            sweep([KillsItsWorker()], list(bars), params={"kills_its_worker": {"n": "1:8"}}, bars=bars,
                  executor=executor)


def test_no_scheduler_is_a_clear_error() -> None:
    with pytest.raises(UserError, match="no Dask scheduler answered"), connect(f"tcp://127.0.0.1:{free_port()}"):
        pass
    with pytest.raises(UserError, match="give a scheduler address"), connect("127.0.0.1:8786"):
        pass
