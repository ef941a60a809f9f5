"""One-class dense network (OCDN) on the five dijet features.

Dense + ReLU layers (``train.ocdn.hidden``: 16-16 deployed, the paper's 128-128-128 in the OCDN
study) and one output trained with binary cross-entropy on background only (every label 0). With a
finite number of epochs the output ranks events by how far they lie from the bulk of the background:
the score comes from stopping early, so quantization-aware retraining distils the float logits. The
model outputs the logit; the sigmoid lives only in the loss (``from_logits``), so the on-chip score
needs no sigmoid table and AUC and thresholds are unchanged (the logit is monotonic in the sigmoid).
"""

from __future__ import annotations

import numpy as np

from l1ad.config import OCDNConfig
from training.keras_scorer import KerasScorer, dense_relu_stack


class OCDN(KerasScorer):
    kind = "ocdn"
    config_class = OCDNConfig

    def build(self):
        import tensorflow as tf

        inputs = self.seeded_input((self.n_inputs,))
        x = dense_relu_stack(inputs, self.config.hidden, "dense_{}", "relu_{}")
        logit = tf.keras.layers.Dense(1, name="logit")(x)
        return tf.keras.Model(inputs, logit, name="ocdn")

    def train_graph(
        self, model, X: np.ndarray, X_val: np.ndarray | None, epochs: int, learning_rate: float
    ) -> dict:
        """The float graph: BCE against all-zero labels for ``epochs``. A quantized twin (QAT) learns the
        float model's logits instead (distillation): more epochs of the one-class objective would move
        the early-stopped score itself (5 more epochs cost 0.03 in AUC at any bit width on the default
        data), which is not what quantization should measure."""
        import tensorflow as tf

        if model is self.model:
            targets = np.zeros((len(X), 1), dtype=np.float32)
            val_targets = None if X_val is None else np.zeros((len(X_val), 1), dtype=np.float32)
            loss = tf.keras.losses.BinaryCrossentropy(from_logits=True)
        else:
            targets = self.model.predict(X, batch_size=8192, verbose=0)
            val_targets = None if X_val is None else self.model.predict(X_val, batch_size=8192, verbose=0)
            loss = tf.keras.losses.MeanSquaredError()
        return self.keras_fit(model, X, targets, X_val, val_targets, epochs, learning_rate, loss)
