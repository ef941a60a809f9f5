"""Shared machinery of the Keras scorers (OCDN, L1 autoencoder, NuRD, conv AE).

A Keras scorer holds one functional model whose single output is the anomaly
score: the deployable graph. Quantization and firmware start from that same graph,
so "the model we measured" and "the model we shipped" are one object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import InputError
from l1ad.io import atomic_path
from l1ad.untrusted import load_keras_model
from training.scorer import Scorer, config_from_dict, read_scorer_meta, write_scorer_meta


class KerasScorer(Scorer):
    """A scorer backed by a Keras functional model ``self.model`` (input -> score).

    ``save`` writes the graph (``model.h5``) and ``scorer.json``; a scorer that keeps more beside the
    graph (NuRD's head statistics) adds it through ``_write_state`` and reads it back in ``_read_state``.
    """

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

    def seeded_input(self, shape: tuple[int, ...]) -> Any:
        """Seed TensorFlow's random draws with this scorer's seed and return the graph's input of ``shape``:
        the first step of every ``build``, so a seed gives the same initial weights."""
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.seed)
        return tf.keras.Input(shape=shape, name="inputs")

    def keras_fit(
        self,
        model: Any,
        X: np.ndarray,
        Y: np.ndarray,
        X_val: np.ndarray | None,
        Y_val: np.ndarray | None,
        epochs: int,
        learning_rate: float,
        loss: Any,
    ) -> dict[str, list[float]]:
        """Compile and fit ``model`` with Adam, this scorer's batch size and seed; Keras prints one line per epoch."""
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.seed)
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate), loss=loss)
        validation = (X_val, Y_val) if X_val is not None else None
        history = model.fit(
            X,
            Y,
            validation_data=validation,
            epochs=epochs,
            batch_size=self.config.batch_size,
            shuffle=True,
            verbose=2,
        )
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}

    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> KerasScorer:
        self.model = self.build()
        self.history = self.train_graph(self.model, X, X_val, self.config.epochs, self.config.learning_rate)
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.model is None:
            raise RuntimeError(f"{self.kind} scorer used before fit or load")
        return self.model.predict(np.asarray(X, dtype=np.float32), batch_size=8192, verbose=0).reshape(-1)

    def _write_state(self, directory: Path) -> dict[str, Any]:
        """Write what this scorer keeps beside the graph into ``directory``; return its ``scorer.json`` fields."""
        return {}

    def _read_state(self, directory: Path, meta: dict[str, Any]) -> None:
        """Read back what ``_write_state`` wrote (``meta``: the whole ``scorer.json``)."""

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "model.h5") as tmp:
            self.model.save(tmp, save_format="h5", include_optimizer=False)
        fields = {
            "n_inputs": self.n_inputs,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "history": self.history,
        }
        write_scorer_meta(directory, self.kind, {**fields, **self._write_state(directory)})

    @classmethod
    def load(cls, directory: str | Path) -> KerasScorer:
        directory = Path(directory)
        meta = read_scorer_meta(directory, cls.kind)
        config = config_from_dict(cls.config_class, meta["config"])
        scorer = cls(config, n_inputs=int(meta["n_inputs"]), seed=int(meta["seed"]))
        model_path = directory / "model.h5"
        if not model_path.is_file():
            raise InputError(model_path, "model file not found")
        # Inspected first: only Keras classes (no Lambda, no custom objects), so nothing in the file runs.
        scorer.model = load_keras_model(model_path)
        scorer.history = meta.get("history", {})
        scorer._read_state(directory, meta)
        return scorer


def dense_relu_stack(x: Any, widths: Sequence[int], dense_name: str, relu_name: str) -> Any:
    """Dense(width) + ReLU per entry of ``widths``; layers named ``dense_name`` / ``relu_name`` formatted with
    the 1-based index (quantization and firmware find layers by these names)."""
    import tensorflow as tf

    for i, width in enumerate(widths, start=1):
        x = tf.keras.layers.Dense(width, name=dense_name.format(i))(x)
        x = tf.keras.layers.Activation("relu", name=relu_name.format(i))(x)
    return x
