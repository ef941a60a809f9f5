"""The stages of an l1ad run and the make-like driver that runs them.

data -> train -> quantize -> firmware -> report, plus the full-precision studies
(``studies/<name>``, upstream ``data``) that ``l1ad study`` runs and ``run.studies``
adds to ``l1ad run``. Each stage reads its upstream stages' folders in the run
directory and writes only its own folder. Asking for a stage runs the upstream
stages that are missing or stale for the config, and skips those already done
(resume); ``force`` redoes the asked-for stage. The report only reads artifacts
and is cheap, so it is always rewritten.

``run_studies`` runs several studies: with ``cluster.parallel_studies`` as tasks on the
Dask cluster of ``l1ad.cluster`` (each worker process imports the study code itself and
runs it through ``run_stage``, so each study still writes its folder atomically and
records itself in the manifest; independent studies run side by side, a study runs
after the studies it reads, ``Stage.after``), otherwise one after another here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import resource
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l1ad.cluster import cluster_runner
from l1ad.config import Config
from l1ad.console import LogEcho, quiet_stage, redirect_output
from l1ad.errors import L1adError
from l1ad.io import atomic_dir
from l1ad.rundir import RunDir


@dataclass(frozen=True)
class Stage:
    name: str
    function: str  # "module:function" with signature (config, out_dir, run_dir) -> summary dict
    config_keys: tuple[str, ...]  # config entries that define the stage's outputs
    upstream: tuple[str, ...]
    help: str
    always: bool = False  # rerun every time (cheap, and reads artifacts outside its upstream chain)
    # stages whose outputs it reads when they are present (not fingerprinted, not run for it): when both
    # run in one `l1ad run`, it runs after them
    after: tuple[str, ...] = ()
    # one folder per deployed model (``<stage>/<model>/``), rebuilt only for the models whose own entries
    # changed (``model_fingerprint``); the others' folders are kept
    per_model: bool = False
    # the function also takes ``run_tasks``: a runner on the Dask cluster of ``cluster`` (l1ad.cluster)
    cluster: bool = False

    def load(self) -> Callable[[Config, Path, Path], dict[str, Any]]:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(module), function)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "data",
            "training.stage:run_data",
            ("data", "run.seed", "run.models"),
            (),
            "generate (or read) the three data families and write model-ready splits",
            cluster=True,
        ),
        Stage(
            "train",
            "training.stage:run_train",
            ("train", "run.seed", "run.n_seeds", "metrics"),
            ("data",),
            "train the float scorers (OCDN, L1 autoencoder, NuRD) on background, N seeds",
            per_model=True,
        ),
        Stage(
            "quantize",
            "quantize.stage:run_quantize",
            ("quantize", "train.device", "run.seed", "metrics"),
            ("train",),
            "QKeras quantization-aware retraining from the float weights",
            per_model=True,
        ),
        Stage(
            "firmware",
            "firmware.stage:run_firmware",
            ("firmware", "metrics"),
            ("quantize",),
            "hls4ml HLS projects, g++ C simulation on the test set, csim-vs-QKeras validation",
            per_model=True,
        ),
        Stage(
            "report",
            "reports.stage:run_report",
            ("metrics", "check", "firmware.budget"),
            ("firmware",),
            "report.md / report.json and plots from the run's artifacts",
            always=True,
        ),
    )
}

STUDIES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "studies/oneclass",
            "training.studies.oneclass:run_oneclass_study",
            ("studies.oneclass", "metrics", "run.seed", "train.device"),
            ("data",),
            "one-class comparison on dijet features: OC-SVM, Deep SVDD, bottleneck AE, OCDN",
        ),
        Stage(
            "studies/gaussian",
            "training.studies.gaussian:run_gaussian_study",
            ("studies.gaussian", "run.seed"),
            (),
            "1-D Gaussian toy: what a background-only BCE classifier tags",
        ),
        Stage(
            "studies/anomalyclr",
            "training.studies.anomalyclr:run_anomalyclr_study",
            ("studies.anomalyclr", "metrics", "run.seed", "train.device"),
            ("data",),
            "AnomalyCLR representations + AE against the raw-input AE on L1 objects",
        ),
        Stage(
            "studies/nae",
            "training.studies.nae:run_nae_study",
            ("studies.nae", "metrics", "run.seed", "train.device"),
            ("data",),
            "normalized autoencoder against the plain AE on L1 objects",
        ),
        Stage(
            "studies/nurd",
            "training.studies.nurd:run_nurd_study",
            ("studies.nurd", "train.nurd", "metrics", "run.seed", "train.device"),
            ("data",),
            "NuRD lambda comparison, mass decorrelation and the conv-AE baseline on jet images",
        ),
        Stage(
            "studies/mpdr",
            "training.studies.mpdr:run_mpdr_study",
            ("studies.mpdr", "metrics", "run.seed", "train.device"),
            ("data",),
            "manifold projection-diffusion recovery (MPDR-S, MPDR-R) against AE and NAE on L1 objects",
            after=(
                "studies/nae",
                "studies/anomalyclr",
            ),  # quotes their results (training.studies.mpdr.EXTERNAL)
        ),
    )
}


def lookup(stage: str) -> Stage:
    """The stage or study called ``stage`` (studies also answer to their short name)."""
    if stage in STAGES:
        return STAGES[stage]
    key = stage if stage.startswith("studies/") else f"studies/{stage}"
    if key in STUDIES:
        return STUDIES[key]
    known = ", ".join([*STAGES, *(k.split("/", 1)[1] for k in STUDIES)])
    raise L1adError(f"unknown stage or study {stage!r} (known: {known})")


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process's threads and by the subprocesses it has
    waited for (g++, make, Yosys): with the wall time, what a stage costs whatever else the machine runs."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def fingerprint(config: Config, stage: str) -> str:
    """Hash of the stage's config entries chained with its upstream stages' fingerprints."""
    s = lookup(stage)
    own = config.fingerprint(*s.config_keys)
    chain = "".join(fingerprint(config, u) for u in s.upstream)
    return hashlib.sha256((own + chain).encode()).hexdigest()[:16]


def model_fingerprint(config: Config, stage: str, model: str) -> str:
    """``fingerprint`` of one model's part of a ``per_model`` stage: the stage's entries without the other
    models' subsections, chained with the model's part of its upstream stages (whole ones for shared stages)."""
    s = lookup(stage)
    own = config.fingerprint(*s.config_keys, model=model)
    chain = "".join(
        model_fingerprint(config, u, model) if lookup(u).per_model else fingerprint(config, u)
        for u in s.upstream
    )
    return hashlib.sha256((own + chain).encode()).hexdigest()[:16]


def _link_or_copy(source: str, target: str) -> None:
    """A kept file in the new stage folder: a hard link (instant, no space), a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def run_stage(
    config: Config,
    run_dir: str | Path,
    stage: str,
    force: bool = False,
    quiet_if_done: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run ``stage`` (and the upstream stages it needs) in ``run_dir``; return its summary.

    ``threads`` caps this process's CPU threads (torch, TensorFlow, BLAS) for the stage, as a study
    run as a Dask task does; ``None`` leaves them as ``train.threads`` says."""
    s = lookup(stage)
    stage = s.name
    rd = RunDir(run_dir, config)
    for upstream in s.upstream:
        run_stage(config, run_dir, upstream, force=False, quiet_if_done=True)
    fp = fingerprint(config, stage)
    if not force and not s.always and rd.is_done(stage, fp):
        if not quiet_if_done:
            print(
                f"[{stage}] up to date in {rd.paths.stage(stage)}, skipped (use --force to redo)", flush=True
            )
        return rd.stage_record(stage)["summary"]
    models = {m: model_fingerprint(config, stage, m) for m in config.run.models} if s.per_model else {}
    record = rd.stage_record(stage) or {}
    previous, kept = record.get("models") or {}, []
    if not force and rd.paths.stage(stage).is_dir():
        kept = [m for m in models if previous.get(m) == models[m] and (rd.paths.stage(stage) / m).is_dir()]
    print(f"[{stage}] {s.help}", flush=True)
    if kept:
        rebuilt = ", ".join(m for m in models if m not in kept) or "none"
        print(f"[{stage}] {', '.join(kept)} up to date, kept; rebuilding {rebuilt}", flush=True)
    if threads is not None:
        from training.device import set_threads

        set_threads(threads)
    elif config.train.threads > 0:
        import torch

        torch.set_num_threads(config.train.threads)
    start, cpu_start = time.perf_counter(), cpu_seconds()
    function = s.load()
    log = rd.paths.log(stage)
    try:
        with atomic_dir(rd.paths.stage(stage)) as out, quiet_stage(log):
            old = record.get("summary", {}) if s.per_model else {}
            summary = {k: v for k, v in old.items() if k in kept or k not in models}
            for m in kept:
                shutil.copytree(
                    rd.paths.stage(stage) / m, out / m, symlinks=True, copy_function=_link_or_copy
                )
            rebuild = [m for m in config.run.models if m not in kept]
            if rebuild or not s.per_model:
                subset = dataclasses.replace(
                    config, run=dataclasses.replace(config.run, models=tuple(rebuild))
                )
                extra = {"run_tasks": cluster_runner(config.cluster)} if s.cluster else {}
                summary.update(function(subset if s.per_model else config, out, rd.path, **extra))
    except L1adError:
        raise  # its one-line message says what is wrong (and nothing was written)
    except BaseException:
        print(f"[{stage}] stopped after {time.perf_counter() - start:.1f} s (its output: {log})", flush=True)
        raise
    seconds = time.perf_counter() - start
    rd.record_stage(stage, fp, seconds, summary, cpu_seconds() - cpu_start, models)
    shutil.rmtree(rd.paths.checkpoints(stage), ignore_errors=True)  # the stage succeeded: nothing to resume
    print(f"[{stage}] done in {seconds:.1f} s -> {rd.paths.stage(stage)}", flush=True)
    return summary


# Seconds of each study on the standard machine (2 cores, BENCHMARKS.md), used to start the longest chains
# of studies first on the cluster when the run directory has no timing of its own for a study.
TYPICAL_SECONDS = {
    "studies/anomalyclr": 170.0,
    "studies/nurd": 163.0,
    "studies/oneclass": 67.0,
    "studies/nae": 58.0,
    "studies/mpdr": 49.0,
    "studies/gaussian": 12.0,
}
EVENTS_TOPIC = "l1ad-studies"  # Dask event topic of the studies' start messages
CHAIN = "chain"  # the job of run_studies that runs its ``chain`` of pipeline stages (log: logs/chain.log)


def _after(job: str) -> tuple[str, ...]:
    """The studies a job waits for (the chain waits for none)."""
    return () if job == CHAIN else lookup(job).after


def order_studies(studies: Sequence[str]) -> list[str]:
    """The studies' full names in the given order, except that a study comes after those of the list it
    reads (``Stage.after``): the order ``run_studies`` runs them in one after another."""
    names = list(dict.fromkeys(lookup(s).name for s in studies))
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in path:
            raise L1adError(f"studies read each other in a cycle: {' -> '.join((*path, name))}")
        for before in lookup(name).after:
            if before in names:
                visit(before, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


def run_studies(
    config: Config,
    run_dir: str | Path,
    studies: Sequence[str],
    force: bool = False,
    parallel: bool | None = None,
    chain: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """Run ``studies`` (names as ``lookup`` takes them) in ``run_dir``, and beside them the pipeline
    stages ``chain`` one after another; return the studies' summaries by full name.

    Stages done for this config are skipped (``force`` redoes them). With ``parallel`` (default
    ``cluster.parallel_studies``) and two or more jobs to run (each study one job, the chain one), they
    run as tasks on the Dask cluster of the ``cluster`` section: independent ones side by side, a study
    with cores / workers CPU threads, the chain with the threads it has in this process (so its results
    are those of a run without studies), the output of each in ``RUN_DIR/logs/<job>.log`` (the chain's
    also copied to this console) and a line on the console when a study starts and ends; otherwise the
    chain then the studies one after another in this process. Either way each stage runs through
    ``run_stage`` (same seeds, atomic folder, manifest record), in an order where a study follows the
    studies it reads (``Stage.after``), so the results are the same up to float noise of the thread count.
    """
    names = order_studies(studies)
    if parallel is None:
        parallel = config.cluster.parallel_studies
    rd = RunDir(run_dir, config)
    for upstream in dict.fromkeys(u for name in names for u in lookup(name).upstream):
        run_stage(config, run_dir, upstream, quiet_if_done=True)
    pending = [n for n in names if force or not rd.is_done(n, fingerprint(config, n))]
    chain = [s for s in chain if force or not rd.is_done(s, fingerprint(config, s))]
    jobs = pending + ([CHAIN] if chain else [])
    if not parallel or _workers(config, jobs) < 2:
        for stage in chain:
            run_stage(config, run_dir, stage, force, quiet_if_done=not force)
        return {name: run_stage(config, run_dir, name, force, quiet_if_done=not force) for name in names}
    summaries = {name: rd.stage_record(name)["summary"] for name in names if name not in pending}
    summaries.update(_run_on_cluster(config, run_dir, jobs, force, chain))
    return {name: summaries[name] for name in names}


def _width(pending: list[str]) -> int:
    """The most studies of ``pending`` that can run at once: the largest layer when each study is placed
    one layer after the last of the pending studies it waits for."""
    layer: dict[str, int] = {}
    for name in pending:  # in order_studies order
        layer[name] = 1 + max((layer[b] for b in _after(name) if b in layer), default=-1)
    return max((list(layer.values()).count(k) for k in set(layer.values())), default=0)


def _workers(config: Config, pending: list[str]) -> int:
    """Workers of the LocalCluster the studies would run on (no more than can be busy at once); for a
    running scheduler, the studies that can run at once."""
    from l1ad.cluster import available_cores

    c = config.cluster
    if c.scheduler:
        return _width(pending)
    return min(c.workers if c.workers > 0 else available_cores(), _width(pending))


def _priorities(rd: RunDir, pending: list[str]) -> dict[str, int]:
    """Dask priority of each pending job (higher starts first): a study's expected seconds plus the longest
    chain of pending studies that wait for it, so the long chains start first; the pipeline chain before
    all, as the report waits for it."""
    manifest = rd.read_manifest().get("stages", {})
    studies = [n for n in pending if n != CHAIN]
    seconds = {n: float(manifest.get(n, {}).get("seconds") or TYPICAL_SECONDS.get(n, 60.0)) for n in studies}
    chain: dict[str, float] = {}
    for name in reversed(studies):  # in order_studies order: dependents come later
        waiting = [chain[d] for d in studies if name in lookup(d).after and d in chain]
        chain[name] = seconds[name] + max(waiting, default=0.0)
    priorities = {name: int(round(chain[name])) for name in studies}
    if CHAIN in pending:
        priorities[CHAIN] = max(priorities.values(), default=0) + 1
    return priorities


def _run_on_cluster(
    config: Config, run_dir: str | Path, pending: list[str], force: bool, chain: Sequence[str] = ()
) -> dict[str, dict]:
    """Run the jobs ``pending`` (studies, and ``CHAIN`` for the stages ``chain``) as Dask tasks, no more
    at once than there are workers: this process hands a job to the cluster when a worker is free and
    the studies it reads are done, the longest first (``_priorities``), so no job waits in a busy
    worker's queue while another worker idles. Returns the studies' summaries."""
    from distributed import as_completed

    from l1ad.cluster import dask_client, n_workers, worker_hosts

    c = config.cluster
    rd = RunDir(run_dir, config)
    workers = _workers(config, pending)  # each its share of the cores
    start = time.perf_counter()
    short = ", ".join(("/".join(chain) if n == CHAIN else n.removeprefix("studies/")) for n in pending)
    # quiet: a failing study is one line here and its traceback in its log, not a worker's error log too
    with dask_client(c.scheduler, workers, c.memory_limit, quiet=True) as client:
        hosts = worker_hosts(client)
        where = f"the Dask scheduler at {c.scheduler}" if c.scheduler else f"{workers} local Dask workers"
        print(f"[studies] {short} on {where}; their output in {rd.path / 'logs'}", flush=True)
        client.subscribe_topic(EVENTS_TOPIC, _print_started)
        priorities = _priorities(rd, pending)
        waiting = list(pending)
        running: dict[str, str] = {}  # future key -> job
        summaries: dict[str, dict] = {}
        failed: dict[str, BaseException] = {}
        busy = 0.0
        tasks = as_completed()
        echo = None  # the chain's log, copied to this console while it runs

        def submit_ready() -> None:
            nonlocal echo
            slots = workers if not c.scheduler else n_workers(client)
            while len(running) < slots:
                ready = [n for n in waiting if all(b in summaries for b in _after(n) if b in pending)]
                if not ready:
                    return
                name = max(ready, key=lambda n: priorities[n])
                waiting.remove(name)
                if name == CHAIN:
                    echo = LogEcho(rd.paths.log(CHAIN))
                future = client.submit(
                    _stage_task,
                    config,
                    str(rd.path),
                    name,
                    tuple(chain) if name == CHAIN else (name,),
                    force,
                    hosts,
                    key=f"l1ad-{name.replace('/', '-')}-{os.getpid()}-{time.time_ns()}",
                    pure=False,
                )
                running[future.key] = name
                tasks.add(future)

        try:
            submit_ready()
            for future in tasks:
                name = running.pop(future.key)
                if name == CHAIN and echo is not None:
                    echo.stop()
                if future.status == "finished":
                    result = future.result()
                    busy += result["seconds"]
                    summaries[name] = result["summary"]
                    if name != CHAIN:
                        print(
                            f"[{name}] done in {result['seconds']:.1f} s on worker {result['worker']} -> "
                            f"{rd.paths.stage(name)} (log: {rd.paths.log(name)})",
                            flush=True,
                        )
                else:
                    exc = future.exception()
                    failed[name] = exc
                    message = " ".join(str(exc).split())
                    print(
                        f"[{name}] failed: {type(exc).__name__}: {message} (log: {rd.paths.log(name)})",
                        flush=True,
                    )
                    for other in [n for n in waiting if any(b in failed for b in _after(n))]:
                        waiting.remove(other)
                        failed[other] = exc
                        blocked = [b for b in _after(other) if b in failed]
                        print(f"[{other}] not run: {', '.join(blocked)} failed", flush=True)
                submit_ready()
        finally:
            if echo is not None:
                echo.stop()
        client.unsubscribe_topic(EVENTS_TOPIC)
    wall = time.perf_counter() - start
    if failed:
        first = next(n for n in pending if n in failed)
        exc = failed[first]
        if type(exc).__name__ == "KilledWorker":
            raise L1adError(
                f"{first}: the Dask worker running it died (out of memory? cluster.memory_limit); "
                f"see {rd.paths.log(first)}; rerun to resume"
            ) from exc
        raise exc
    beside = f" beside {'/'.join(chain)}" if CHAIN in pending else ""
    print(
        f"[studies] {len([n for n in pending if n != CHAIN])} done{beside} in {wall:.1f} s of wall time "
        f"({busy:.1f} s of task time added up)",
        flush=True,
    )
    summaries.pop(CHAIN, None)
    return summaries


def _print_started(event: tuple[float, dict]) -> None:
    """The console line of a study that started on a worker (a Dask event handler)."""
    msg = event[1]
    print(
        f"[{msg['stage']}] started on worker {msg['name']} ({msg['threads']} CPU thread"
        f"{'s' if msg['threads'] != 1 else ''}), log: {msg['log']}",
        flush=True,
    )


def _stage_task(
    config: Config, run_dir: str, job: str, stages: tuple[str, ...], force: bool, hosts: dict[str, int]
) -> dict[str, Any]:
    """One job on a Dask worker: this process imports the stages' code and runs them through ``run_stage``,
    its output in the job's log. A study gets the cores of this host shared among its workers; the chain
    the threads this l1ad process would use (``train.threads``, or every core), so its results are those
    of a run without studies beside it. Returns the last stage's summary."""
    from distributed import get_worker

    from l1ad.cluster import address_host, available_cores
    from l1ad.io import quiet_known_warnings
    from training.device import set_threads

    quiet_known_warnings()  # a worker process: the filters of the l1ad command do not reach it
    worker = get_worker()
    if job == CHAIN:
        # The threads of an l1ad process (every core; torch then as train.threads says, in run_stage), which
        # the Dask nanny's OMP_NUM_THREADS=1 took away. The chain is the first job on its fresh worker, so
        # TensorFlow starts here with them.
        threads, stage_threads = available_cores(), None
        set_threads(threads)
    else:
        threads = max(available_cores() // max(hosts.get(address_host(worker.address), 1), 1), 1)
        if config.train.threads > 0:
            threads = min(threads, config.train.threads)
        stage_threads = threads
    rd = RunDir(run_dir, config)
    log = rd.paths.log(job)
    if job != CHAIN:  # the chain's own output is copied to the console, start line included
        worker.log_event(
            EVENTS_TOPIC, {"stage": job, "name": worker.name, "threads": threads, "log": str(log)}
        )
    start = time.perf_counter()
    with redirect_output(log):
        print(
            f"==== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {job} on Dask worker {worker.name} "
            f"(pid {os.getpid()}, CPU threads: {threads})",
            flush=True,
        )
        try:
            for stage in stages:
                summary = run_stage(
                    config, run_dir, stage, force=force, quiet_if_done=not force, threads=stage_threads
                )
        except BaseException as exc:
            traceback.print_exc()
            if isinstance(exc, L1adError) and not _picklable(exc):
                raise L1adError(str(exc)) from None  # the client gets the same one-line message
            raise
    return {"summary": summary, "seconds": time.perf_counter() - start, "worker": worker.name}


def _picklable(exc: BaseException) -> bool:
    """True when ``exc`` survives the trip back to the client (an ``InputError``'s arguments do not).

    ``copy.copy`` rebuilds the exception from ``__reduce_ex__`` as unpickling does, without a pickle.
    """
    import copy

    try:
        copy.copy(exc)
    except Exception:
        return False
    return True
