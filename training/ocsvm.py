"""One-class SVM (RBF kernel) behind the Scorer protocol, stored as plain arrays and scored in numpy.

scikit-learn fits; the fitted support vectors, dual coefficients, intercept and gamma are all that is kept,
so a saved model is an .npz of numbers (no pickle) and a loaded one scores bit-identically to the fitted one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l1ad.errors import InputError
from l1ad.io import atomic_path
from training.scorer import Scorer, malformed_meta, read_scorer_meta, write_scorer_meta

# Kernel-matrix entries per scoring block (32 MB of float64): bounds memory whatever the number of support
# vectors (the inner detector keeps about nu * n_train of them) and of events.
_BLOCK_ELEMENTS = 1 << 22


def resolve_gamma(gamma: str | float, X: np.ndarray) -> float:
    """The numeric RBF gamma for ``gamma`` ("scale", "auto" or a number) on training data ``X``.

    scikit-learn's conventions: "scale" = 1 / (n_features * X.var()), "auto" = 1 / n_features.
    """
    n_features = X.shape[1]
    if gamma == "scale":
        var = float(np.asarray(X, dtype=np.float64).var())
        return 1.0 / (n_features * var) if var > 0 else 1.0
    if gamma == "auto":
        return 1.0 / n_features
    try:
        value = float(gamma)
    except ValueError:
        raise ValueError(f"gamma must be 'scale', 'auto' or a positive number, got {gamma!r}") from None
    if not value > 0:
        raise ValueError(f"gamma must be positive, got {value}")
    return value


def rbf_decision(
    X: np.ndarray, support_vectors: np.ndarray, dual_coef: np.ndarray, intercept: float, gamma: float
) -> np.ndarray:
    """The OC-SVM decision function sum_i alpha_i exp(-gamma |x - s_i|^2) + intercept, in blocks of events.

    Same value as scikit-learn's ``OneClassSVM.decision_function`` (positive inside the learned support).
    """
    X = np.asarray(X, dtype=np.float64)
    sv = np.asarray(support_vectors, dtype=np.float64)
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    out = np.empty(len(X))
    rows = max(1, _BLOCK_ELEMENTS // max(1, len(sv)))
    for start in range(0, len(X), rows):
        x = X[start : start + rows]
        # |x - s|^2 through one matrix product; rounding can leave a tiny negative for x == s.
        d2 = np.einsum("ij,ij->i", x, x)[:, None] + sv_sq[None, :] - 2.0 * (x @ sv.T)
        np.maximum(d2, 0.0, out=d2)
        np.multiply(d2, -gamma, out=d2)
        np.exp(d2, out=d2)
        out[start : start + rows] = d2 @ dual_coef + intercept
    return out


class OneClassSVMScorer(Scorer):
    """RBF one-class SVM; anomaly score = minus the decision value (higher = further outside the support).

    scikit-learn's decision value is positive inside the region the SVM assigns to the background and
    negative outside; a fraction of about ``nu`` of the training events falls outside. Both regimes of the
    OCDN study use the same sign:

    * outer detector (nu close to 0): the region holds most of the background, anomalies lie outside it;
    * inner detector (nu close to 1): the region shrinks to the densest core and almost every training event
      becomes a support vector with the same weight, so the decision value approaches a kernel density
      estimate minus a constant; minus it ranks every event, core and tails alike, by how thin the
      background is around it.

    Fitting uses at most ``n_train`` events drawn with ``default_rng(seed)`` (kernel SVMs scale
    super-linearly); ``n_train_used`` records the count. Fitting is deterministic for a given subsample, so
    seeds differ only through the subsample.
    """

    kind = "ocsvm"

    def __init__(self, nu: float, gamma: str | float = "scale", n_train: int = 10_000, seed: int = 1) -> None:
        if not 0.0 < nu <= 1.0:
            raise ValueError(f"nu must lie in (0, 1], got {nu}")
        if n_train < 2:
            raise ValueError(f"n_train must be at least 2, got {n_train}")
        self.nu = float(nu)
        self.gamma_setting = gamma
        self.n_train = int(n_train)
        self.seed = int(seed)
        self.gamma: float | None = None
        self.support_vectors: np.ndarray | None = None
        self.dual_coef: np.ndarray | None = None
        self.intercept: float | None = None
        self.n_train_used = 0

    def subsample(self, X: np.ndarray) -> np.ndarray:
        """The training events ``fit`` uses: all of ``X`` or ``n_train`` drawn without replacement."""
        if len(X) <= self.n_train:
            return np.asarray(X)
        idx = np.random.default_rng(self.seed).choice(len(X), size=self.n_train, replace=False)
        return np.asarray(X)[np.sort(idx)]

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> OneClassSVMScorer:
        from sklearn.svm import OneClassSVM

        train = np.asarray(self.subsample(X), dtype=np.float64)
        self.gamma = resolve_gamma(self.gamma_setting, train)
        svm = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma).fit(train)
        self.support_vectors = np.asarray(svm.support_vectors_, dtype=np.float64)
        self.dual_coef = np.asarray(svm.dual_coef_, dtype=np.float64).reshape(-1)
        self.intercept = float(np.asarray(svm.intercept_).reshape(-1)[0])
        self.n_train_used = len(train)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """scikit-learn's decision value (positive inside the learned support), rebuilt in numpy."""
        if self.support_vectors is None:
            raise RuntimeError("ocsvm scorer used before fit or load")
        return rbf_decision(X, self.support_vectors, self.dual_coef, self.intercept, self.gamma)

    def score(self, X: np.ndarray) -> np.ndarray:
        return -self.decision_function(X)

    def save(self, directory: str | Path) -> None:
        if self.support_vectors is None:
            raise RuntimeError("ocsvm scorer saved before fit")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "svm.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, support_vectors=self.support_vectors, dual_coef=self.dual_coef)
        write_scorer_meta(
            directory,
            self.kind,
            {
                "nu": self.nu,
                "gamma_setting": self.gamma_setting,
                "gamma": self.gamma,
                "intercept": self.intercept,
                "n_train": self.n_train,
                "n_train_used": self.n_train_used,
                "n_support": len(self.support_vectors),
                "seed": self.seed,
                "score": "minus the decision value (higher = more anomalous)",
            },
        )

    @classmethod
    def load(cls, directory: str | Path) -> OneClassSVMScorer:
        directory = Path(directory)
        meta = read_scorer_meta(directory, cls.kind)
        with malformed_meta(directory, cls.kind):
            scorer = cls(meta["nu"], meta["gamma_setting"], meta["n_train"], meta["seed"])
            scorer.gamma = float(meta["gamma"])
            scorer.intercept = float(meta["intercept"])
            scorer.n_train_used = int(meta["n_train_used"])
        arrays_path = directory / "svm.npz"
        if not arrays_path.is_file():
            raise InputError(arrays_path, "file not found")
        try:
            with np.load(arrays_path, allow_pickle=False) as arrays:
                sv = arrays["support_vectors"]
                coef = arrays["dual_coef"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(arrays_path, f"not a readable OC-SVM array file ({exc})") from None
        if sv.ndim != 2 or coef.shape != (len(sv),):
            raise InputError(
                arrays_path, f"support vectors {sv.shape} and dual coefficients {coef.shape} do not match"
            )
        scorer.support_vectors, scorer.dual_coef = sv, coef
        return scorer
