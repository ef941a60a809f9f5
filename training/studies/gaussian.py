"""The 1-D Gaussian toy of the OCDN study: what a classifier trained with BCE on background only tags.

Background N(-2, 1), signals N(0, 1) and N(-4, 1); every training label is 0. With f = sigmoid(a x + b) the
loss E[-log(1 - f)] ~ exp(b + a mu + a^2 / 2) once f is small, so a settles at -mu = 2 while b runs to
-infinity: the ranking is fixed (tag towards the origin) and only the level of f changes with training.
The study records f and the ROC at several epochs for logistic regression and a small MLP, on the data as
drawn and reflected (x -> -x).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config, GaussianStudyConfig
from l1ad.errors import L1adError
from training import metrics
from training.epochs import train_epochs
from training.studies.base import Study

TITLE = "What a background-only classifier tags: the 1-D Gaussian toy"
BACKGROUND_MEAN = -2.0
SIGNAL_MEANS = (0.0, -4.0)  # as drawn: one to the right of the background, one to the left
WIDTH = 1.0
MODELS = {"logistic": "logistic regression", "mlp": "MLP"}
GRID = np.linspace(-8.0, 8.0, 161)  # where f is recorded: both the drawn and the reflected data fit inside


def signal_label(mean: float) -> str:
    """ "N(mean, width)"; adding 0.0 turns the reflection's -0.0 into 0."""
    return f"N({mean + 0.0:g}, {WIDTH:g})"


def gaussian_samples(n_events: int, seed: int, mirrored: bool = False) -> dict[str, Any]:
    """Training background, test background and the two test signals, ``n_events`` each, from one seed.

    ``mirrored`` reflects the very same draws (x -> -x), so the two cases differ by the reflection only.
    Returns ``train``, ``background``, ``signals`` (label -> sample, float64) and ``means`` (label -> mean).
    """
    if n_events < 2:
        raise ValueError(f"n_events must be at least 2, got {n_events}")
    rng = np.random.default_rng(seed)
    sign = -1.0 if mirrored else 1.0
    train = sign * rng.normal(BACKGROUND_MEAN, WIDTH, n_events)
    background = sign * rng.normal(BACKGROUND_MEAN, WIDTH, n_events)
    signals = {signal_label(sign * m): sign * rng.normal(m, WIDTH, n_events) for m in SIGNAL_MEANS}
    means = {signal_label(sign * m): sign * m + 0.0 for m in SIGNAL_MEANS}
    return {"train": train, "background": background, "signals": signals, "means": means}


def build_model(kind: str, seed: int, mlp_hidden: tuple[int, ...] = GaussianStudyConfig.mlp_hidden):
    """Logistic regression (one Linear(1, 1), started at a = b = 0) or a small ReLU MLP (seeded init).

    Starting the logistic regression at zero lets the data alone set the sign of a.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    if kind == "logistic":
        model = nn.Linear(1, 1)
        nn.init.zeros_(model.weight)
        nn.init.zeros_(model.bias)
        return model
    if kind == "mlp":
        layers: list = []
        width = 1
        for h in mlp_hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        return nn.Sequential(*layers)
    raise ValueError(f"unknown model kind {kind!r} (known: {', '.join(MODELS)})")


def logits(model, x: np.ndarray) -> np.ndarray:
    """The model's logit at ``x`` in float64: no rounding ties that could move an AUC between snapshots."""
    import torch

    exact = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        return exact(torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(-1, 1)).reshape(-1).numpy()


def train_snapshots(
    kind: str,
    samples: dict[str, Any],
    epochs: tuple[int, ...],
    learning_rate: float,
    seed: int,
    batch_size: int = GaussianStudyConfig.batch_size,
    mlp_hidden: tuple[int, ...] = GaussianStudyConfig.mlp_hidden,
) -> list[dict[str, Any]]:
    """Train with BCE on background only (all labels 0, Adam) and snapshot at each epoch in ``epochs``.

    Each snapshot holds ``epoch``, ``grid_logit`` (f on GRID as a logit), the test ``scores`` (logits of
    ``background`` and of each signal), ``auc`` per signal and, for logistic regression, ``a`` and ``b``.
    """
    import torch

    from training.torch_scorer import gradient_epoch

    if not epochs or min(epochs) < 1:
        raise ValueError(f"snapshot epochs must be positive, got {epochs}")
    model = build_model(kind, seed, mlp_hidden)
    data = torch.as_tensor(samples["train"], dtype=torch.float32).reshape(-1, 1)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    wanted = set(epochs)
    snapshots = []

    def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
        order = torch.randperm(len(data), generator=generator)
        batches = (data[order[i : i + batch_size]] for i in range(0, len(data), batch_size))
        loss = gradient_epoch(batches, lambda b: loss_fn(model(b), torch.zeros_like(b)), optimiser, len(data))
        bar.update(bar.total)
        if epoch + 1 in wanted:
            snapshots.append(_snapshot(kind, model, epoch + 1, samples))
        return {"loss": loss}

    train_epochs(max(epochs), -(-len(data) // batch_size), run_epoch, f"gaussian {kind}")
    return snapshots


def _snapshot(kind: str, model, epoch: int, samples: dict[str, Any]) -> dict[str, Any]:
    background = logits(model, samples["background"])
    scores = {name: logits(model, x) for name, x in samples["signals"].items()}
    labels = {name: np.r_[np.zeros(len(background)), np.ones(len(s))] for name, s in scores.items()}
    snap: dict[str, Any] = {
        "epoch": epoch,
        "grid_logit": logits(model, GRID),
        "scores": {"background": background, **scores},
        "auc": {name: metrics.auc(labels[name], np.r_[background, s]) for name, s in scores.items()},
    }
    if kind == "logistic":
        snap["a"] = float(model.weight.detach().reshape(()))
        snap["b"] = float(model.bias.detach().reshape(()))
    return snap


def _side(mean: float, background_mean: float) -> str:
    return "right" if mean > background_mean else "left"


def _panels(path: Path, title: str, data_label: str):
    """Two styled panels side by side: the data as drawn | reflected."""
    from reports.plots import styled_figure

    return styled_figure(path, title, data_label, ncols=2, figsize=(18.0, 8.5))


def _function_plot(kind: str, cases: dict[str, dict], path: Path, data_label: str) -> Path:
    """Test histograms of background and signals with f(x) = sigmoid(logit) at each snapshot (log axis)."""
    from reports.plots import BACKGROUND_GREYS, COLOURS, LINESTYLES

    with _panels(path, f"{MODELS[kind]}: score function over the data", data_label) as (_, axes):
        for ax, (case, info) in zip(axes, cases.items(), strict=True):
            samples = info["samples"]
            edges = np.linspace(GRID[0], GRID[-1], 81)
            ax.hist(samples["background"], bins=edges, density=True, color=BACKGROUND_GREYS[0], alpha=0.6,
                    label="background")  # fmt: skip
            for i, (name, x) in enumerate(samples["signals"].items()):
                ax.hist(x, bins=edges, density=True, histtype="step", linewidth=2.5, color=COLOURS[i + 1],
                        label=f"signal {name}")  # fmt: skip
            ax.set_xlabel("x")
            ax.set_ylabel("density")
            ax.set_ylim(0.0, 0.5)
            ax.set_title(case)
            twin = ax.twinx()
            for i, snap in enumerate(info["snapshots"]):
                f = 1.0 / (1.0 + np.exp(-snap["grid_logit"]))
                twin.plot(GRID, f, color="black", linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=2.0,
                          label=f"f(x), epoch {snap['epoch']}")  # fmt: skip
            twin.set_yscale("log")
            twin.set_ylabel("f(x) = sigmoid(output)")
            handles = ax.get_legend_handles_labels()
            twin_handles = twin.get_legend_handles_labels()
            # Below the panel: the curves of f cross every region of the axes.
            ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], loc="upper center",
                      bbox_to_anchor=(0.5, -0.14), ncols=4, fontsize=12)  # fmt: skip
    return path


def _roc_figure(kind: str, cases: dict[str, dict], path: Path, data_label: str) -> Path:
    """ROC of each signal at each snapshot epoch (linear axes: AUC < 0.5 shows as a curve under the diagonal)."""
    from reports.plots import COLOURS, LINEWIDTHS

    with _panels(path, f"{MODELS[kind]}: ROC at each epoch", data_label) as (_, axes):
        for ax, (case, info) in zip(axes, cases.items(), strict=True):
            for i, snap in enumerate(info["snapshots"]):
                background = snap["scores"]["background"]
                for j, name in enumerate(info["samples"]["signals"]):
                    s = snap["scores"][name]
                    y = np.r_[np.zeros(len(background)), np.ones(len(s))]
                    fpr, tpr, _ = metrics.roc(y, np.r_[background, s])
                    ax.plot(fpr, tpr, color=COLOURS[i % len(COLOURS)], linestyle="-" if j == 0 else "--",
                            linewidth=LINEWIDTHS[i % len(LINEWIDTHS)], zorder=2 + i,
                            label=f"epoch {snap['epoch']}, {name}: AUC {snap['auc'][name]:.3f}")  # fmt: skip
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1.2)
            ax.set_xlim(0.0, 1.0)
            ax.set_ylim(0.0, 1.0)
            ax.set_xlabel("background efficiency (FPR)")
            ax.set_ylabel("signal efficiency (TPR)")
            ax.set_title(case)
            # The tagged curve fills the top left, the anti-tagged one hugs the bottom and right edges.
            ax.legend(loc="center", bbox_to_anchor=(0.6, 0.45), fontsize=10)
    return path


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch on one thread, then restore the setting: on batches of 256 x 1 numbers, handing work to
    other threads costs more than it saves (several times slower on a loaded 2-core machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_case(kind: str, g: GaussianStudyConfig, seed: int, mirrored: bool) -> dict[str, Any]:
    """Samples and snapshots of one model on the data as drawn or reflected."""
    samples = gaussian_samples(g.n_events, seed, mirrored)
    with _single_thread():
        snapshots = train_snapshots(
            kind, samples, g.epochs, g.learning_rate, seed, g.batch_size, g.mlp_hidden
        )
    return {"samples": samples, "snapshots": snapshots}


def _case_record(info: dict[str, Any], background_mean: float) -> dict[str, Any]:
    snaps = info["snapshots"]
    record: dict[str, Any] = {"background": signal_label(background_mean), "signals": {}, "snapshots": []}
    for name in info["samples"]["signals"]:
        aucs = [s["auc"][name] for s in snaps]
        record["signals"][name] = {
            "mean": info["samples"]["means"][name],
            "side": _side(info["samples"]["means"][name], background_mean),
            "auc_per_epoch": aucs,
            "auc_spread": max(aucs) - min(aucs),
            "tagged": bool(aucs[-1] > 0.5),
        }
    for s in snaps:
        snap = {"epoch": s["epoch"], "auc": s["auc"], "grid": GRID, "logit_on_grid": s["grid_logit"]}
        if "a" in s:
            snap["a"], snap["b"] = s["a"], s["b"]
        record["snapshots"].append(snap)
    return record


def _markdown(run: Study, study: dict[str, Any], plot_files: list[str]) -> list[str]:
    g = study["config"]
    lines = [
        *run.heading(),
        f"Data: synthetic 1-D toy (no data stage): background {signal_label(BACKGROUND_MEAN)}, signals "
        f"{signal_label(SIGNAL_MEANS[0])} (to its right) and {signal_label(SIGNAL_MEANS[1])} (to its left), "
        f"{g['n_events']} events each; the reflected case applies x -> -x to the same draws. Logistic "
        f"regression f = sigmoid(a x + b) and an MLP (hidden {', '.join(map(str, g['mlp_hidden']))}, ReLU) are "
        f"trained with BCE on background only (every label 0), Adam, learning rate {g['learning_rate']:g}, "
        f"batch {g['batch_size']}; snapshots after epochs {', '.join(map(str, g['epochs']))}. ROCs use the logit "
        "(the same ranking as f).",
        "",
        f"| model | data | epoch | AUC, signal at {SIGNAL_MEANS[0]:g} | AUC, signal at "
        f"{SIGNAL_MEANS[1]:g} / {-SIGNAL_MEANS[1]:g} reflected | a | b |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, cases in study["models"].items():
        for case, rec in cases.items():
            for snap in rec["snapshots"]:
                aucs = " | ".join(
                    f"{auc:.4f} ({rec['signals'][name]['side']})" for name, auc in snap["auc"].items()
                )
                ab = f"{snap['a']:.3f} | {snap['b']:.3f}" if "a" in snap else "- | -"
                lines.append(f"| {MODELS[kind]} | {case} | {snap['epoch']} | {aucs} | {ab} |")
    lines += ["", "Measured here:"]
    for kind, cases in study["models"].items():
        spread = max(s["auc_spread"] for rec in cases.values() for s in rec["signals"].values())
        tags = "; ".join(
            f"{case}: "
            + ", ".join(
                f"{name} ({s['side']}) {'tagged' if s['tagged'] else 'anti-tagged'}"
                for name, s in rec["signals"].items()
            )
            for case, rec in cases.items()
        )
        lines.append(
            f"- {MODELS[kind]}: the AUC of a signal differs between snapshots by at most {spread:.2g}; "
            f"{tags}; the reflected AUCs differ from the drawn ones by at most "
            f"{study['mirror_difference'][kind]:.2g}."
        )
    return [*lines, "", *run.plot_links(plot_files)]


def run_gaussian_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train both models on the drawn and the reflected toy; write study.json, study.md and the figures."""
    g = config.studies.gaussian
    if g.n_events < 2 or not g.epochs or min(g.epochs) < 1:
        raise L1adError(
            f"studies.gaussian needs n_events >= 2 and positive snapshot epochs, got {g.n_events} and {g.epochs}"
        )
    seed = config.run.seed
    run = Study("gaussian", TITLE, config, out, run_dir)
    label = "l1ad · synthetic data (1-D toy)"
    cases_label = {"as drawn": False, "reflected x -> -x": True}
    models: dict[str, dict] = {}
    plot_files: list[str] = []
    plot_dir = run.paths.plots
    mirror_difference: dict[str, float] = {}
    for kind in MODELS:
        print(f"  gaussian: {MODELS[kind]}, {g.n_events} events, epochs {max(g.epochs)}", flush=True)
        cases = {case: run_case(kind, g, seed, mirrored) for case, mirrored in cases_label.items()}
        models[kind] = {
            case: _case_record(info, -BACKGROUND_MEAN if cases_label[case] else BACKGROUND_MEAN)
            for case, info in cases.items()
        }
        drawn, reflected = (cases[c]["snapshots"] for c in cases_label)
        # Signal k of the reflected case is the reflection of signal k as drawn (same order of means).
        mirror_difference[kind] = max(
            abs(a - b)
            for sd, sr in zip(drawn, reflected, strict=True)
            for a, b in zip(sd["auc"].values(), sr["auc"].values(), strict=True)
        )
        plot_files.append(_function_plot(kind, cases, plot_dir / f"function_{kind}.png", label).name)
        plot_files.append(_roc_figure(kind, cases, plot_dir / f"roc_{kind}.png", label).name)

    study = {
        "data": {"source": "synthetic", "n_events_per_class": g.n_events},
        "config": {
            "n_events": g.n_events,
            "epochs": list(g.epochs),
            "learning_rate": g.learning_rate,
            "batch_size": g.batch_size,
            "mlp_hidden": list(g.mlp_hidden),
            "seed": seed,
        },  # fmt: skip
        "models": models,
        "mirror_difference": mirror_difference,
        "plots": plot_files,
    }
    run.finish(study, _markdown(run, study, plot_files))
    return {
        kind: {
            case: {name: round(s["auc_per_epoch"][-1], 4) for name, s in rec["signals"].items()}
            for case, rec in cases.items()
        }
        for kind, cases in models.items()
    }
