"""NuRD (Nuisance-Randomized Distillation) on jet images: a mass-decorrelated CNN representation scored
by the Mahalanobis distance to each labelled background, with the distance computed inside the graph.

Step I reweights the labelled backgrounds (QCD, W/Z) so they share one jet-mass distribution; Step II
trains the CNN classifier under those weights while a critic, refit every batch, tells (r, Y, Z) from
(r, Y, Z~) with the mass Z~ randomised, and the classifier is penalised by the critic's log-odds. The
deployable graph ends in the frozen Mahalanobis head of ``training.mahalanobis_head``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import NuRDConfig
from l1ad.errors import InputError
from l1ad.io import atomic_path
from training.epochs import history_columns, train_epochs
from training.keras_scorer import KerasScorer, dense_relu_stack
from training.mahalanobis_head import (
    add_mahalanobis_head,
    fit_gaussian,
    head_constants,
    representation_model,
    set_head,
)

REPRESENTATION = "representation"  # the layer whose output r the Mahalanobis head reads


# ----------------------------------------------------------------------------------------------
# Step I: importance weights


def importance_weights(
    y: np.ndarray, nuisance: np.ndarray, n_bins: int = 20, clip: float = 20.0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Weights w = p(Y) / p(Y | Z) so that the weighted classes share one nuisance distribution.

    p(Y | Z) is a histogram estimate in ``n_bins`` quantile bins of Z (equal populations, so every
    bin holds enough events). Weights above ``clip`` times the mean are clipped (bins where one
    class is nearly absent would otherwise give a handful of events all the weight), then the
    weights are scaled to mean 1. Returns the weights and a summary (bin edges, p(Y), clipped
    count, effective sample size (sum w)^2 / sum w^2).
    """
    y = np.asarray(y, dtype=np.int64)
    z = np.asarray(nuisance, dtype=np.float64)
    if y.shape != z.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(f"y {y.shape} and nuisance {z.shape} must be equal-length non-empty 1-D arrays")
    classes = np.unique(y)
    edges = np.unique(np.quantile(z, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    bins = np.searchsorted(edges, z, side="right")
    index = np.searchsorted(classes, y)
    counts = np.zeros((len(edges) + 1, len(classes)))
    np.add.at(counts, (bins, index), 1.0)
    p_y = counts.sum(axis=0) / counts.sum()
    p_y_given_z = counts / counts.sum(axis=1, keepdims=True)
    w = p_y[index] / p_y_given_z[bins, index]
    limit = clip * w.mean()
    n_clipped = int((w > limit).sum())
    w = np.minimum(w, limit)
    w /= w.mean()
    return w.astype(np.float32), {
        "method": "binned",
        "n_bins": len(edges) + 1,
        "edges": edges.tolist(),
        "p_y": {int(c): float(p) for c, p in zip(classes, p_y, strict=True)},
        "n_clipped": n_clipped,
        "max_weight": float(w.max()),
        "effective_sample_size": float(w.sum() ** 2 / (w**2).sum()),
    }


# ----------------------------------------------------------------------------------------------
# Networks and the Step II training loop


def build_cnn(cfg: NuRDConfig, image_size: int, seed: int) -> tuple[Any, Any]:
    """Input (S, S, 1) -> conv blocks -> dense -> linear representation; returns (input, representation).

    Each block is Conv2D(``kernel_size``, ``strides``, valid padding) + ReLU; with ``cfg.pool``, then
    2x2 max pooling while the map keeps at least 2 pixels per side (small test images skip the last
    pooling). Max pooling is exact in fixed point. The default is CICADA-like: one Conv2D of 2x2
    windows at stride 2 (each pixel read once), no pooling, small enough to unroll in firmware.
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=(image_size, image_size, 1), name="inputs")
    x, size = inputs, image_size
    for i, filters in enumerate(cfg.filters, start=1):
        if size < cfg.kernel_size:
            raise ValueError(
                f"image size {image_size} is too small for {len(cfg.filters)} {cfg.kernel_size}x{cfg.kernel_size} "
                "convolutions: use fewer filters entries or larger images"
            )
        x = tf.keras.layers.Conv2D(filters, cfg.kernel_size, strides=cfg.strides, name=f"conv_{i}")(x)
        x = tf.keras.layers.Activation("relu", name=f"conv_{i}_relu")(x)
        size = (size - cfg.kernel_size) // cfg.strides + 1
        if cfg.pool and size >= 4:
            x = tf.keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
            size //= 2
    x = dense_relu_stack(tf.keras.layers.Flatten(name="flatten")(x), cfg.dense, "dense_{}", "dense_{}_relu")
    return inputs, tf.keras.layers.Dense(cfg.representation_dim, name=REPRESENTATION)(x)


def build_critic(n_inputs: int, hidden: tuple[int, ...], seed: int) -> Any:
    """MLP on concat(r, Y, Z): logit that the triple's nuisance was randomised."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input(shape=(n_inputs,))
    x = inputs
    for width in hidden:
        x = tf.keras.layers.Dense(width, activation="relu")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(1)(x), name="critic")


def _bce(labels: Any, logits: Any) -> Any:
    import tensorflow as tf

    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def train_nurd(
    rep_model: Any,
    classifier: Any,
    X: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    weights: np.ndarray,
    cfg: NuRDConfig,
    epochs: int,
    learning_rate: float,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Step II: train ``rep_model`` + ``classifier`` on CE + lambda |E_w[log(p / (1 - p))]|, weighted by w.

    p is the critic's probability that a real triple (r, Y, Z) had its nuisance randomised; its
    weighted batch mean log-odds estimates (minus) the information r and Y carry about Z under the
    nuisance-randomised distribution. The issue's per-event form w (CE - lambda log(p/(1-p))) is
    unbounded below: the main model can push the critic's log-odds to +infinity on regions it has not
    seen instead of removing the information, so (as in the NuRD reference code) the batch mean enters
    through its absolute value. Each batch first refits the critic (``cfg.critic_steps`` Adam steps,
    weighted BCE of real triples against triples whose Z is permuted within the batch: Z~ ~ p(Z),
    the weighted marginal, independent of X given Y), then takes one step of the main model. The
    critic sees r whitened with the batch covariance, the metric of the Mahalanobis score. lambda
    ramps up linearly over ``cfg.critic_warmup_steps`` batches (the critic trains from the start). ``z`` is
    the standardised nuisance; with lambda = 0 no critic is built (Step I weights only). Returns
    per-epoch history: weighted CE, critic loss, mean critic log-odds on real triples, seconds, and
    the validation CE and accuracy when ``validation`` = (X_val, y_val) is given.
    """
    import tensorflow as tf

    use_critic = cfg.critic_lambda > 0
    k = int(rep_model.output.shape[-1])
    critic = build_critic(k + 2, cfg.critic_hidden, seed + 1) if use_critic else None
    main_opt = tf.keras.optimizers.Adam(learning_rate)
    critic_opt = tf.keras.optimizers.Adam(cfg.critic_learning_rate) if use_critic else None
    lam = tf.Variable(0.0, trainable=False, dtype=tf.float32)
    main_vars = rep_model.trainable_variables + classifier.trainable_variables
    spec = [
        tf.TensorSpec([None, *X.shape[1:]], tf.float32),
        *(tf.TensorSpec([None, 1], tf.float32) for _ in range(4)),
    ]

    def whiten(r):
        # The score whitens r (Mahalanobis): the critic must see r in the same metric, or mass
        # information hidden in low-variance directions escapes it and dominates the distance.
        # The batch whitening matrix is a constant for the gradients (stable near degeneracy).
        centred = r - tf.reduce_mean(r, axis=0, keepdims=True)
        cov = tf.stop_gradient(
            tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(r)[0], tf.float32)
        )
        chol = tf.linalg.cholesky(cov + 1e-4 * (tf.linalg.trace(cov) / k + 1e-12) * tf.eye(k))
        return tf.transpose(tf.linalg.triangular_solve(chol, tf.transpose(centred), lower=True))

    @tf.function(input_signature=spec)
    def step(x, yb, zb, z_rand, w):
        wsum = tf.reduce_sum(w)
        critic_loss = tf.constant(0.0)
        if use_critic:
            r_fixed = whiten(tf.stop_gradient(rep_model(x, training=True)))
            real, randomised = tf.concat([r_fixed, yb, zb], 1), tf.concat([r_fixed, yb, z_rand], 1)
            for _ in range(cfg.critic_steps):
                with tf.GradientTape() as tape:
                    loss_c = tf.reduce_sum(
                        w
                        * (_bce(tf.zeros_like(yb), critic(real)) + _bce(tf.ones_like(yb), critic(randomised)))
                    ) / (2.0 * wsum)
                critic_opt.apply_gradients(
                    zip(
                        tape.gradient(loss_c, critic.trainable_variables),
                        critic.trainable_variables,
                        strict=True,
                    )
                )
                critic_loss = loss_c
        with tf.GradientTape() as tape:
            r = rep_model(x, training=True)
            ce = _bce(yb, classifier(r))
            log_odds = critic(tf.concat([whiten(r), yb, zb], 1)) if use_critic else tf.zeros_like(ce)
            mean_log_odds = tf.reduce_sum(w * log_odds) / wsum
            loss = tf.reduce_sum(w * ce) / wsum + lam * tf.abs(mean_log_odds)
        main_opt.apply_gradients(zip(tape.gradient(loss, main_vars), main_vars, strict=True))
        return tf.reduce_sum(w * ce) / wsum, critic_loss, mean_log_odds

    rng = np.random.default_rng(seed)
    columns = [np.asarray(a, dtype=np.float32).reshape(-1, 1) for a in (y, z, weights)]
    steps_done = 0

    def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
        nonlocal steps_done
        start = time.perf_counter()
        order = rng.permutation(len(X))
        sums, n_batches = np.zeros(3), 0
        for s in range(0, len(X), cfg.batch_size):
            # The classifier learns before the penalty bites: a penalty at full strength on a random
            # representation collapses it to a constant (independent of the mass, and of everything).
            lam.assign(
                cfg.critic_lambda * min(1.0, steps_done / cfg.critic_warmup_steps)
                if cfg.critic_warmup_steps
                else cfg.critic_lambda
            )
            steps_done += 1
            idx = order[s : s + cfg.batch_size]
            yb, zb, wb = (c[idx] for c in columns)
            out = step(X[idx], yb, zb, zb[rng.permutation(len(idx))], wb)
            sums += [float(v) for v in out]
            n_batches += 1
            bar.update(1)
        seconds = time.perf_counter() - start
        figures = dict(zip(("ce", "critic_loss", "critic_log_odds"), sums / max(n_batches, 1), strict=True))
        line = f"    epoch {epoch + 1}/{epochs}: CE {figures['ce']:.4f}"
        if use_critic:
            line += f", critic loss {figures['critic_loss']:.4f}, log-odds {figures['critic_log_odds']:+.3f}"
        if validation is not None:
            logits = np.asarray(classifier(rep_model.predict(validation[0], batch_size=4096, verbose=0)))
            yv = np.asarray(validation[1], dtype=np.float32).reshape(-1, 1)
            figures["val_ce"] = float(np.mean(_bce(yv, logits.astype(np.float32))))
            figures["val_accuracy"] = float(np.mean((logits > 0) == (yv > 0.5)))
            line += f"; val CE {figures['val_ce']:.4f}, accuracy {figures['val_accuracy']:.3f}"
        print(line + f" ({seconds:.1f} s)", flush=True)
        return {k: float(v) for k, v in figures.items()}

    keys = ("ce", "critic_loss", "critic_log_odds", "seconds")
    history = train_epochs(epochs, -(-len(X) // cfg.batch_size), run_epoch, "NuRD")
    return history_columns(history, keys + (("val_ce", "val_accuracy") if validation is not None else ()))
    return history


def distill_representation(
    rep_model: Any,
    X: np.ndarray,
    target: np.ndarray,
    kernels: list[np.ndarray],
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    monitor: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """Train ``rep_model`` so its r matches ``target`` in the metric of the head: QAT for NuRD.

    The loss is the mean over backgrounds b of ||(r - r_target) L_b||^2, the squared error of the
    head's whitened projection, so directions the head amplifies are matched most closely. With
    quantizers in the loop (straight-through gradients) the loss does not fall monotonically, so it
    is measured on ``monitor`` = (inputs, targets) before training and after every epoch and the
    best weights are kept: QAT never leaves the twin further from the float model than it started.
    Returns per-epoch training and monitored loss, seconds, and the epoch kept (0 = as converted).
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed + 11)
    opt = tf.keras.optimizers.Adam(learning_rate)
    head = [tf.constant(k, tf.float32) for k in kernels]
    variables = rep_model.trainable_variables

    def whitened_error(r, t):
        return tf.add_n([tf.reduce_sum(tf.square((r - t) @ k), axis=1) for k in head]) / len(head)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *X.shape[1:]], tf.float32),
            tf.TensorSpec([None, target.shape[1]], tf.float32),
        ]
    )
    def step(x, t):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(whitened_error(rep_model(x, training=True), t))
            # layer losses of the twin: HGQ's beta x EBOPs resource penalty (none for QKeras)
            penalty = tf.add_n(rep_model.losses) if rep_model.losses else tf.constant(0.0)
            total = loss + penalty  # inside the tape, or the gradient is None
        opt.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return loss, penalty

    def monitored() -> float:
        r = rep_model.predict(monitor[0], batch_size=4096, verbose=0)
        return float(np.mean(whitened_error(tf.constant(r), tf.constant(monitor[1], tf.float32))))

    rng = np.random.default_rng(seed)
    target = np.asarray(target, dtype=np.float32)
    # The kept epoch minimises the monitored error plus the epoch's mean resource penalty, the
    # objective the training serves (HGQ's penalty exists in training mode only).
    first_monitored = monitored()
    kept = {"loss": first_monitored, "epoch": 0, "weights": rep_model.get_weights()}

    def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
        start = time.perf_counter()
        order = rng.permutation(len(X))
        losses = []
        for s in range(0, len(X), batch_size):
            idx = order[s : s + batch_size]
            losses.append([float(v) for v in step(X[idx], target[idx])])
            bar.update(1)
        losses = np.array(losses)
        figures = {
            "distill_loss": float(losses[:, 0].mean()),
            "penalty": float(losses[:, 1].mean()),
            "monitor_loss": monitored(),
        }
        if epoch == 0:
            kept["loss"] += figures["penalty"]  # the converted twin's penalty, as first measured
        if figures["monitor_loss"] + figures["penalty"] < kept["loss"]:
            kept.update(loss=figures["monitor_loss"] + figures["penalty"], epoch=epoch + 1)
            kept["weights"] = rep_model.get_weights()
        print(
            f"    epoch {epoch + 1}/{epochs}: representation distillation loss {figures['distill_loss']:.4f}, "
            f"monitored {figures['monitor_loss']:.4f} ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
        return figures

    epochs_run = train_epochs(epochs, -(-len(X) // batch_size), run_epoch, "NuRD distillation")
    history: dict[str, Any] = history_columns(
        epochs_run, ("distill_loss", "monitor_loss", "penalty", "seconds")
    )
    history["monitor_loss"].insert(0, first_monitored)
    best, best_epoch, best_weights = kept["loss"], kept["epoch"], kept["weights"]
    rep_model.set_weights(best_weights)
    history["kept_epoch"] = best_epoch
    print(
        f"    kept epoch {best_epoch} (monitored loss {best:.4f}; {history['monitor_loss'][0]:.4f} as converted)"
    )
    return history


# ----------------------------------------------------------------------------------------------
# The scorer


class NuRD(KerasScorer):
    """Compact NuRD scorer: CNN representation + frozen Mahalanobis head; ``n_inputs`` = image side S.

    Trains on the labelled backgrounds (``uses_labels``): ``fit(X, X_val, y=..., nuisance=...)`` with
    ``y`` the background class per event and ``nuisance`` the jet mass.
    """

    kind = "nurd"
    config_class = NuRDConfig
    uses_labels = True

    def __init__(self, config: NuRDConfig, n_inputs: int, seed: int = 1) -> None:
        super().__init__(config, n_inputs, seed)
        self.n_backgrounds = 0
        self.classifier_weights: list[np.ndarray] | None = None
        self.nuisance_scale = (0.0, 1.0)  # mean, std of the training nuisance (the critic's input)
        self.head_stats: list[dict[str, Any]] = []
        self.weights_info: dict[str, Any] = {}

    def build(self) -> Any:
        import tensorflow as tf

        inputs, representation = build_cnn(self.config, self.n_inputs, self.seed)
        score = add_mahalanobis_head(representation, self.n_backgrounds, self.config.combine)
        return tf.keras.Model(inputs, score, name="nurd")

    def fit(
        self,
        X: np.ndarray,
        X_val: np.ndarray | None = None,
        *,
        y: np.ndarray | None = None,
        nuisance: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> NuRD:
        """Train on labelled background images; ``y`` in 0..B-1 (B >= 1 backgrounds), ``nuisance`` per event."""
        if y is None or nuisance is None:
            raise ValueError("NuRD trains on labelled backgrounds: pass y and nuisance")
        y = np.asarray(y, dtype=np.int64)
        self.n_backgrounds = int(y.max()) + 1
        if set(np.unique(y)) != set(range(self.n_backgrounds)):
            raise ValueError(f"background labels must be 0..{self.n_backgrounds - 1}, got {np.unique(y)}")
        z = np.asarray(nuisance, dtype=np.float64)
        self.nuisance_scale = (float(z.mean()), float(z.std()) or 1.0)
        self.model = self.build()
        self.history = self.train_graph(
            self.model, X, X_val, self.config.epochs, self.config.learning_rate, y=y, nuisance=z, y_val=y_val
        )
        return self

    def train_graph(
        self,
        model: Any,
        X: np.ndarray,
        X_val: np.ndarray | None,
        epochs: int,
        learning_rate: float,
        *,
        y: np.ndarray | None = None,
        nuisance: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
    ) -> dict:
        """Train the representation of ``model`` (this float graph or its QKeras twin), then refit its head.

        The float graph is trained with NuRD (``train_nurd``). A twin (QAT, bit scan) is trained to
        reproduce this scorer's float representation (``distill_representation``): its deployable
        output is a fixed function of r, so matching r keeps the score, its AUC and its mass
        decorrelation, which retraining with the adversarial objective would move at random. The
        head (mean, covariance per background) is then refit on ``model``'s own representation of
        the training events, so on chip it describes the quantized representation, rounding noise
        included. ``X_val`` with ``y_val`` is monitored.
        """
        if y is None or nuisance is None:
            raise ValueError("NuRD trains on labelled backgrounds: pass y and nuisance")
        y = np.asarray(y, dtype=np.int64)
        X = np.asarray(X, dtype=np.float32)
        if self.n_backgrounds > 2:
            raise ValueError("the NuRD classifier separates two backgrounds; got more")
        rep_model = representation_model(model)
        history: dict[str, Any] = {}
        if model is not self.model:
            if epochs > 0:
                kernels = [head_constants(s["mean"], s["cov"])[0] for s in self.head_stats]
                teacher = representation_model(self.model)
                monitor = X if X_val is None else np.asarray(X_val, dtype=np.float32)
                history = distill_representation(
                    rep_model,
                    X,
                    teacher.predict(X, batch_size=4096, verbose=0),
                    kernels,
                    epochs,
                    learning_rate,
                    self.config.batch_size,
                    self.seed,
                    (monitor, teacher.predict(monitor, batch_size=4096, verbose=0)),
                )
            self.refit_head(model, X, y)
            return history

        import tensorflow as tf

        if self.config.weighting == "binned":
            weights, weights_info = importance_weights(
                y, nuisance, self.config.weight_bins, self.config.weight_clip
            )
        else:
            weights, weights_info = np.ones(len(y), dtype=np.float32), {"method": "none"}
        z = (np.asarray(nuisance, dtype=np.float64) - self.nuisance_scale[0]) / self.nuisance_scale[1]
        tf.keras.utils.set_random_seed(self.seed + 7)
        classifier = tf.keras.layers.Dense(1, name="logit")
        classifier.build((None, int(rep_model.output.shape[-1])))
        if epochs > 0:
            print(
                f"    NuRD: lambda {self.config.critic_lambda:g}, {len(X)} events, "
                f"weights {weights_info['method']} (effective events "
                f"{weights_info.get('effective_sample_size', len(X)):.0f})",
                flush=True,
            )
            history = train_nurd(
                rep_model,
                classifier,
                X,
                y,
                z,
                weights,
                self.config,
                epochs,
                learning_rate,
                self.seed,
                (np.asarray(X_val, dtype=np.float32), y_val)
                if X_val is not None and y_val is not None
                else None,
            )
        self.classifier_weights = [np.asarray(w) for w in classifier.get_weights()]
        self.head_stats, self.weights_info = self.refit_head(model, X, y), weights_info
        return history

    def refit_head(self, model: Any, X: np.ndarray, y: np.ndarray) -> list[dict[str, Any]]:
        """Fit each background's Gaussian on ``model``'s representation of ``X``, write the head, return the fits."""
        r = representation_model(model).predict(np.asarray(X, dtype=np.float32), batch_size=4096, verbose=0)
        stats = [
            fit_gaussian(r[y == b], self.config.shrinkage, self.config.max_condition)
            for b in range(self.n_backgrounds)
        ]
        set_head(model, stats)
        return stats

    def representation(self, X: np.ndarray) -> np.ndarray:
        """The representation r of each image, shape (N, k)."""
        return representation_model(self.model).predict(
            np.asarray(X, dtype=np.float32), batch_size=8192, verbose=0
        )

    def _write_state(self, directory: Path) -> dict[str, Any]:
        """The classifier weights and each background's mean and covariance (``nurd_state.npz``)."""
        arrays = {f"classifier_{i}": w for i, w in enumerate(self.classifier_weights or [])}
        for b, s in enumerate(self.head_stats):
            arrays[f"mean_{b}"], arrays[f"cov_{b}"] = s["mean"], s["cov"]
        with atomic_path(directory / "nurd_state.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        return {
            "n_backgrounds": self.n_backgrounds,
            "nuisance_scale": list(self.nuisance_scale),
            "importance_weights": self.weights_info,
            "head": [{k: v for k, v in s.items() if k not in ("mean", "cov")} for s in self.head_stats],
        }

    def _read_state(self, directory: Path, meta: dict[str, Any]) -> None:
        state_path = directory / "nurd_state.npz"
        if not state_path.is_file():
            raise InputError(state_path, "NuRD state file not found")
        try:
            with np.load(state_path, allow_pickle=False) as state:
                arrays = {k: state[k] for k in state.files}
        except (OSError, ValueError) as exc:
            raise InputError(state_path, f"not a readable .npz ({exc})") from None
        self.n_backgrounds = int(meta["n_backgrounds"])
        self.nuisance_scale = tuple(meta["nuisance_scale"])
        self.weights_info = meta.get("importance_weights", {})
        n_classifier = sum(1 for k in arrays if k.startswith("classifier_"))
        self.classifier_weights = [arrays[f"classifier_{i}"] for i in range(n_classifier)] or None
        self.head_stats = [
            {"mean": arrays[f"mean_{b}"], "cov": arrays[f"cov_{b}"], **info}
            for b, info in enumerate(meta.get("head", []))
        ]
