"""Config of the run as a whole (``run``: name, seeds, models, studies) and where its tasks run (``cluster``)."""

from __future__ import annotations

from dataclasses import dataclass

from l1ad.config.section import Section
from l1ad.config.studies import STUDY_FAMILIES


@dataclass(frozen=True)
class DeployedModel:
    """A scorer l1ad takes to firmware: its name (also its ``train`` and ``quantize`` config sections), the
    data family it reads and its scorer kind (``training.scorer.SCORER_CLASSES``)."""

    name: str
    family: str
    kind: str


# The one list of deployed models: everything else (config checks, stages, the command line) reads it.
DEPLOYED = {
    m.name: m
    for m in (
        DeployedModel("ocdn", "dijet", "ocdn"),
        DeployedModel("ae", "l1", "ae"),
        DeployedModel("nurd", "jet_images", "nurd"),
    )
}
DEPLOYED_MODELS = tuple(DEPLOYED)


@dataclass
class RunConfig(Section):
    """The run as a whole: its name, seeds, deployed scorers and studies."""

    name: str = "default"  # label written into the manifest and the report
    seed: int = 1  # master seed: data generation and the first training seed
    n_seeds: int = 1  # independent trainings per float model (seed, seed+1, ...)
    # run by `l1ad studies` (and `l1ad run --with-studies`); mpdr after nae and anomalyclr (its report quotes theirs)
    studies: tuple[str, ...] = ("gaussian", "oneclass", "anomalyclr", "nae", "mpdr", "nurd")
    # deployed scorers to build (ocdn: dijet features, ae: L1 objects, nurd: jet images): only their data
    # families are prepared, and only the studies on those families run (`--models` overrides)
    models: tuple[str, ...] = DEPLOYED_MODELS

    def problems(self, where: str = "run") -> list[str]:
        """Known models, each once (also checked for ``--models``, hence the default key); seeds numpy
        accepts; known studies."""
        found = []
        models = self.models
        if not models or len(set(models)) != len(models) or not set(models) <= set(DEPLOYED_MODELS):
            found.append(
                f"{where}.models must name one or more of {', '.join(DEPLOYED_MODELS)}, each once; got {list(models)}"
            )
        if self.seed < 0 or self.seed + self.n_seeds + 2 >= 2**32:  # numpy's legacy seeding (Keras): 32 bits
            found.append(f"{where}.seed must lie in [0, 2^32 - n_seeds - 2), got {self.seed}")
        unknown = [s for s in self.studies if s not in STUDY_FAMILIES]
        if unknown:
            found.append(
                f"{where}.studies: unknown study {unknown[0]!r} (known: {', '.join(STUDY_FAMILIES)})"
            )
        return found


@dataclass
class ClusterConfig(Section):
    """Where ``l1ad scan``, ``l1ad csim`` and the studies of ``l1ad run`` run their Dask tasks (workers must
    see the run directory)."""

    scheduler: str = ""  # address of a running Dask scheduler (tcp://host:8786); "" = a LocalCluster here
    workers: int = 0  # LocalCluster worker processes; 0 = one per core
    memory_limit: str = "auto"  # per LocalCluster worker, e.g. "4GiB"; "auto" = machine memory / workers
    # `l1ad studies` runs the studies of run.studies as tasks on these workers, independent ones side by side
    # (each with cores / workers threads, its output in RUN_DIR/logs/<study>.log); false = one after another
    parallel_studies: bool = True

    def problems(self, where: str) -> list[str]:
        return [f"{where}.workers must be >= 0 (0 = one per core)"] if self.workers < 0 else []
