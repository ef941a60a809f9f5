"""Shared machinery of the Keras scorers (OCDN, L1 autoencoder).

A Keras scorer holds one functional model whose single output is the anomaly
score: the deployable graph. Quantization and firmware start from that same graph,
so "the model we measured" and "the model we shipped" are one object.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import InputError
from l1ad.io import atomic_path, write_json
from l1ad.untrusted import load_keras_model
from training.scorer import Scorer, read_scorer_meta


class KerasScorer(Scorer):
    """A scorer backed by a Keras functional model ``self.model`` (input -> score)."""

    config_class: type = object

    def __init__(self, config: Any, n_inputs: int, seed: int = 1) -> None:
        self.config = config
        self.n_inputs = n_inputs
        self.seed = seed
        self.model = None  # the deployable graph, built by ``build``
        self.history: dict[str, list[float]] = {}

    def build(self) -> Any:
        """Return the deployable functional model (input -> score)."""
        raise NotImplementedError

    def train_graph(
        self, model: Any, X: np.ndarray, X_val: np.ndarray | None, epochs: int, learning_rate: float
    ) -> dict:
        """Train ``model`` (this scorer's float graph or its QKeras twin) with this scorer's recipe."""
        raise NotImplementedError

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> KerasScorer:
        self.model = self.build()
        self.history = self.train_graph(self.model, X, X_val, self.config.epochs, self.config.learning_rate)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.kind} scorer used before fit or load")
        return self.model.predict(np.asarray(X, dtype=np.float32), batch_size=8192, verbose=0).reshape(-1)

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.h5") as tmp:
            self.model.save(tmp, save_format="h5", include_optimizer=False)
        write_json(
            directory / "scorer.json",
            {
                "kind": self.kind,
                "n_inputs": self.n_inputs,
                "seed": self.seed,
                "config": dataclasses.asdict(self.config),
                "history": self.history,
            },
        )

    @classmethod
    def load(cls, directory: str | Path) -> KerasScorer:

        directory = Path(directory)
        meta = read_scorer_meta(directory, cls.kind)
        fields = {f.name for f in dataclasses.fields(cls.config_class)}
        config = cls.config_class(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items() if k in fields}
        )
        scorer = cls(config, n_inputs=int(meta["n_inputs"]), seed=int(meta["seed"]))
        model_path = directory / "model.h5"
        if not model_path.is_file():
            raise InputError(model_path, "model file not found")
        # Inspected first: only Keras classes (no Lambda, no custom objects), so nothing in the file runs.
        scorer.model = load_keras_model(model_path)
        scorer.history = meta.get("history", {})
        return scorer


def keras_fit(
    model: Any,
    X: np.ndarray,
    Y: np.ndarray,
    X_val,
    Y_val,
    epochs: int,
    batch_size: int,
    lr: float,
    loss: Any,
    seed: int,
) -> dict[str, list[float]]:
    """Compile and fit ``model`` with Adam; Keras prints one progress line per epoch."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=lr), loss=loss)
    validation = (X_val, Y_val) if X_val is not None else None
    history = model.fit(
        X, Y, validation_data=validation, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=2
    )
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}
