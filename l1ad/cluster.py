"""The Dask client that scans and sharded C simulation run on.

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
from collections.abc import Iterator
from typing import Any

from l1ad.errors import L1adError


@contextlib.contextmanager
def dask_client(scheduler: str = "", workers: int = 0, memory_limit: str = "auto") -> Iterator[Any]:
    """Yield a ``distributed.Client``: connected to ``scheduler``, or to a new LocalCluster of
    ``workers`` processes (0 = one per core) that is shut down on exit."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise L1adError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            yield client
        return
    n = workers if workers > 0 else (os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=None,  # no web server on a batch node; dask's dashboard needs bokeh anyway
            # TensorFlow's threads make a worker slow to exit at shutdown; dask then warns that it
            # killed it, which is expected and harmless
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def n_workers(client: Any) -> int:
    """Workers connected to ``client`` now (at least 1, for sizing the submission window)."""
    return max(len(client.scheduler_info().get("workers", {})), 1)
