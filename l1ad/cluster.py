"""The Dask client that scans, sharded C simulation and the studies of ``l1ad run`` run on.

A LocalCluster on this machine by default (one single-threaded worker process per
core: TensorFlow, hls4ml and the compiled C simulation each keep to one thread in
a worker), or an existing scheduler given by address (``tcp://host:8786``), e.g.
one started by dask-jobqueue on a SLURM or HTCondor cluster. Workers must see the
run directory at the same path (a shared filesystem), as on every HEP cluster.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from l1ad.config import ClusterConfig
from l1ad.errors import L1adError
from l1ad.tasks import Task, TaskRunner


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity: a batch slot's cores, not the whole node's)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_hosts(client: Any) -> dict[str, int]:
    """Workers per host connected to ``client`` now (host name or IP -> count)."""
    hosts: dict[str, int] = {}
    for address in client.scheduler_info().get("workers", {}):
        host = address_host(address)
        hosts[host] = hosts.get(host, 0) + 1
    return hosts


def address_host(address: str) -> str:
    """The host of a Dask address (``tcp://10.0.0.1:4567`` -> ``10.0.0.1``)."""
    return address.split("://", 1)[-1].rsplit(":", 1)[0]


@contextlib.contextmanager
def dask_client(
    scheduler: str = "", workers: int = 0, memory_limit: str = "auto", quiet: bool = False
) -> Iterator[Any]:
    """Yield a ``distributed.Client``: connected to ``scheduler``, or to a new LocalCluster of
    ``workers`` processes (0 = one per core) that is shut down on exit. ``quiet``: the LocalCluster's
    processes log nothing below CRITICAL (for tasks that report their own failures, as the studies do)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise L1adError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            yield client
        return
    n = workers if workers > 0 else available_cores()
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            # a free port: None does not turn the scheduler's HTTP server off (dask/distributed#8136), and
            # the default :8787 warns whenever a second cluster runs on the machine (a user's, a test's)
            dashboard_address=":0",
            # TensorFlow's threads make a worker slow to exit at shutdown; dask then warns that it
            # killed it, which is expected and harmless
            silence_logs=logging.CRITICAL if quiet else logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def n_workers(client: Any) -> int:
    """Workers connected to ``client`` now (at least 1, for sizing the submission window)."""
    return max(len(client.scheduler_info().get("workers", {})), 1)


def run_windowed(
    client: Any,
    tasks: list[Task],
    store: Callable[[Any, Any], None],
    desc: str,
) -> None:
    """Run ``tasks`` (key, function, arguments) on ``client`` with at most two per worker in flight,
    calling ``store(key, result)`` as each finishes (with a progress bar): the client's memory holds a
    bounded number of results whatever the number of tasks."""
    from distributed import as_completed
    from tqdm import tqdm

    pending = list(tasks)
    key_of: dict[str, Any] = {}

    def submit() -> Any:
        key, function, args = pending.pop(0)
        future = client.submit(function, *args, pure=False)
        key_of[future.key] = key
        return future

    window = as_completed([submit() for _ in range(min(2 * n_workers(client), len(pending)))])
    with tqdm(total=len(tasks), desc=desc, unit="chunk") as bar:
        for future in window:
            store(key_of.pop(future.key), future.result())
            future.release()
            bar.update()
            if pending:
                window.add(submit())


def cluster_runner(cluster: ClusterConfig) -> TaskRunner:
    """A ``TaskRunner`` on the Dask cluster of ``cluster`` (a LocalCluster, or its scheduler), opened for
    each call: what the orchestration hands a stage whose work spreads over workers."""

    def run(tasks: list[Task], store: Callable[[Any, Any], None], desc: str) -> int:
        with dask_client(cluster.scheduler, cluster.workers, cluster.memory_limit) as client:
            workers = n_workers(client)
            run_windowed(client, tasks, store, desc)
        return workers

    return run
