"""The runner's jobs on a Dask distributed cluster: `--cluster tcp://HOST:8786`, or `--cluster local`.

`DaskExecutor` fits the runner's `Executor` protocol: the run's context (every product's bars and the
settings) is scattered once and broadcast to every worker, each job is a task reading it there, and results
stream back as tasks finish, so progress bars move as on the local runner. The numbers are those of the local
runner: the same `evaluate_job` on the same inputs. Dask re-runs the tasks of a worker that dies on the
workers left (the context lives on each of them), and the runner keeps one result per job index, so a lost
worker neither loses nor duplicates a result.

Workers must run this version of GPT-Trader (they import `gpt_trader.backtest.runner` to run a job); a
strategy from a user's file travels with its job, pickled by value.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gpt_trader.backtest.runner import Job, JobResult, RunContext, default_workers, evaluate_job
from gpt_trader.errors import UserError

if TYPE_CHECKING:
    from distributed import Client

CONNECT_TIMEOUT_SECONDS = 10


class DaskExecutor:
    """Runs jobs as tasks of a connected Dask `Client`; one scattered context per run."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._scattered: tuple[int, Any] | None = None

    @property
    def workers(self) -> int:
        """Threads across the cluster, the jobs to plan for (at least one)."""
        threads = self.client.nthreads()
        return max(1, sum(threads.values()))

    def run(self, context: RunContext, jobs: Sequence[Job]) -> Iterator[JobResult]:
        from distributed import as_completed

        shared = self._context(context)
        futures = [self.client.submit(evaluate_job, shared, job, pure=False) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            self.client.cancel(futures)

    def _context(self, context: RunContext) -> Any:
        # An optimisation runs many batches over one context: scatter it once, not once per batch.
        if self._scattered is None or self._scattered[0] != id(context):
            self._scattered = (id(context), self.client.scatter(context, broadcast=True, hash=False))
        return self._scattered[1]


@contextmanager
def connect(address: str, workers: int | None = None) -> Iterator[DaskExecutor]:
    """A DaskExecutor on the scheduler at `address`, or on a local cluster of `workers` processes for `local`."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--cluster needs Dask: pip install 'dask[distributed]'") from None
    if address == "local":
        cluster = LocalCluster(
            n_workers=workers or default_workers(), threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None,
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
