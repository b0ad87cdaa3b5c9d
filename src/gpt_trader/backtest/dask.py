"""The runner's jobs on a Dask distributed cluster: `--cluster tcp://HOST:8786`, or `--cluster local`.

`DaskExecutor` fits the runner's `Executor` protocol. A run's context (every product's bars and the settings)
is scattered once and broadcast to every worker, where it stays: the executor keeps it by the fingerprint of
its data, so a later sweep or optimisation batch on equal bars and settings sends only its jobs. Each job is
a task reading the context on its worker (jobs are the local runner's chunks, a few per worker thread), and
results, one metrics array per job, stream back as tasks finish, so progress bars move as on the local runner.
The numbers are those of the local runner: the same `evaluate_job` on the same inputs. Dask re-runs the tasks
of a worker that dies on the workers left (the context lives on each of them), and the runner keeps one result
per job index, so a lost worker neither loses nor duplicates a result.

A scheduler running Dask's active memory manager (its default; `--cluster local` starts one without) keeps
one copy of a context between runs, and the other workers fetch it from that one when their next job needs
it: from a peer, not from this process (docs/optimisation.md says how to start a scheduler without it).

Workers must run this version of GPT-Trader (they import `gpt_trader.backtest.runner` to run a job, and
compile its kernels once per process, on their first job); a strategy from a user's file travels with its
job, pickled by value.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gpt_trader.backtest.runner import Job, JobResult, RunContext, default_workers, evaluate_job
from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from distributed import Client, Future

CONNECT_TIMEOUT_SECONDS = 10
KEPT_CONTEXTS = 2
"""Contexts kept on the workers between runs, the latest used: a year of 1-minute bars for five products is
about 130 MB on each worker, so alternating between two data sets sends nothing while memory stays bounded."""


def fingerprint(context: RunContext) -> str:
    """A SHA-256 of the settings and every product's bars: equal contexts, equal fingerprint."""
    digest = hashlib.sha256(repr(context.settings).encode())
    for product, bars in sorted(context.bars.items()):
        digest.update(f"|{product}={bars.fingerprint()}".encode())
        if bars.synthetic is not None:
            digest.update(bars.synthetic.tobytes())
    return digest.hexdigest()


class DaskExecutor:
    """Runs jobs as tasks of a connected Dask `Client`, each context sent to the workers once."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._sent: OrderedDict[str, Future] = OrderedDict()
        """The workers' copies of the latest contexts, by fingerprint; dropping one frees it there."""
        self._last: tuple[RunContext, str] | None = None

    @property
    def workers(self) -> int:
        """Threads across the cluster, the jobs to plan for (at least one)."""
        threads = self.client.nthreads()
        return max(1, sum(threads.values()))

    def run(self, context: RunContext, jobs: Sequence[Job]) -> Iterator[JobResult]:
        from distributed import KilledWorker, as_completed
        from distributed.client import FutureCancelledError

        shared = self.send(context)
        futures = [self.client.submit(evaluate_job, shared, job, pure=False) for job in jobs]
        try:
            for future in as_completed(futures):
                try:
                    yield future.result()
                except KilledWorker as error:
                    raise UserError(
                        f"--cluster: Dask workers kept dying while running a backtest job ({error}); "
                        "look at the workers' logs and memory (a worker needs every product's bars), "
                        "then run again"
                    ) from None
                except FutureCancelledError as error:
                    raise UserError(
                        f"--cluster: every Dask worker holding the run's bars left mid-run ({error}); "
                        "run again once workers are back: the bars are sent anew"
                    ) from None
        finally:
            self.client.cancel(futures)

    def send(self, context: RunContext) -> Future:
        """The workers' copy of `context`: scattered to every worker unless an equal one is there already."""
        # An optimisation runs many batches over one context object: fingerprint it once, not per batch.
        if self._last is not None and self._last[0] is context:
            key = self._last[1]
        else:
            key = fingerprint(context)
            self._last = (context, key)
        future = self._sent.pop(key, None)
        if future is None or future.status != "finished":  # never sent, or lost with every worker holding it
            # A fresh context: the indicators this process may have cached stay here.
            future = self.client.scatter(RunContext(context.bars, context.settings), broadcast=True, hash=False)
        self._sent[key] = future
        while len(self._sent) > KEPT_CONTEXTS:
            self._sent.popitem(last=False)
        return future


@contextmanager
def connect(address: str, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the scheduler at `address`, or on a local cluster of `workers` processes for `local`."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--cluster needs Dask: pip install 'dask[distributed]'") from None
    if address == "local":
        # The scheduler's active memory manager would drop all but one worker's copy of a context once no
        # task waits for it, so the next run's tasks fetch it again from that worker. A worker's statistical
        # profiler samples its threads' stacks every 10 ms, for the dashboard's profile (not served here):
        # that costs a backtest job about a tenth more CPU time (bench/README.md, W3).
        quiet = {"distributed.scheduler.active-memory-manager.start": False,
                 "distributed.worker.profile.enabled": False}  # fmt: skip
        with dask.config.set(quiet):
            cluster = LocalCluster(
                n_workers=workers or default_workers(), threads_per_worker=1, processes=True, host="127.0.0.1",
                # The scheduler serves HTTP (health, metrics) even without a dashboard: on loopback, on a free
                # port, so that two local clusters at once do not contend for Dask's 8787.
                dashboard_address="127.0.0.1:0",
            )
        try:
            with Client(cluster) as client:
                yield DaskExecutor(client)
        finally:
            cluster.close()
        return
    if not address.startswith(("tcp://", "tls://")):
        raise UserError(f"--cluster {address!r}: give a scheduler address such as tcp://HOST:8786, or local")
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS)
    except OSError as error:
        raise UserError(
            f"--cluster {address}: no Dask scheduler answered ({error}); start one with `dask scheduler` "
            "and workers with `dask worker ADDRESS`, or use --cluster local"
        ) from None
    with client:
        yield DaskExecutor(client)
