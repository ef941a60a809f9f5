"""Small L1 autoencoder whose reconstruction error is computed inside the graph.

Architecture in the family of the deployed AE triggers (57-32-16-3-16-32-57, ReLU).
The deployable graph appends the score with layers hls4ml converts:
``Subtract([x, x_hat]) -> Multiply([d, d]) -> frozen Dense(1) of ones``. The score
is the *sum* of squared residuals (= n_inputs x MSE): a sum of squares is exact in
fixed point, while a mean with weights 1/57 is not, and bit-exact csim is the
standard here. Ranking, AUC and thresholds are those of the MSE.
"""

from __future__ import annotations

import numpy as np

from l1ad.config import AEConfig
from training.keras_scorer import KerasScorer, keras_fit


def add_reconstruction_score(inputs, reconstruction):
    """Append residual -> square -> frozen sum: the on-chip sum of squared residuals."""
    import tensorflow as tf

    n = int(inputs.shape[-1])
    residual = tf.keras.layers.Subtract(name="residual")([inputs, reconstruction])
    squared = tf.keras.layers.Multiply(name="squared_residual")([residual, residual])
    score_layer = tf.keras.layers.Dense(
        1, use_bias=False, trainable=False, kernel_initializer="ones", name="score"
    )
    score = score_layer(squared)
    score_layer.set_weights([np.ones((n, 1), dtype=np.float32)])
    return score


class L1Autoencoder(KerasScorer):
    kind = "ae"
    config_class = AEConfig

    def build(self):
        import tensorflow as tf

        tf.keras.utils.set_random_seed(self.seed)
        inputs = tf.keras.Input(shape=(self.n_inputs,), name="inputs")
        x = inputs
        for i, width in enumerate(self.config.encoder, start=1):
            x = tf.keras.layers.Dense(width, name=f"enc_{i}")(x)
            x = tf.keras.layers.Activation("relu", name=f"enc_{i}_relu")(x)
        x = tf.keras.layers.Dense(self.config.latent, name="latent")(x)
        for i, width in enumerate(reversed(self.config.encoder), start=1):
            x = tf.keras.layers.Dense(width, name=f"dec_{i}")(x)
            x = tf.keras.layers.Activation("relu", name=f"dec_{i}_relu")(x)
        reconstruction = tf.keras.layers.Dense(self.n_inputs, name="reconstruction")(x)
        score = add_reconstruction_score(inputs, reconstruction)
        return tf.keras.Model(inputs, score, name="l1_autoencoder")

    def train_graph(
        self, model, X: np.ndarray, X_val: np.ndarray | None, epochs: int, learning_rate: float
    ) -> dict:
        import tensorflow as tf

        return keras_fit(
            reconstruction_model(model),
            X,
            X,
            X_val,
            X_val,
            epochs=epochs,
            batch_size=self.config.batch_size,
            lr=learning_rate,
            loss=tf.keras.losses.MeanSquaredError(),
            seed=self.seed,
        )


def reconstruction_model(score_model):
    """The input -> reconstruction sub-model sharing weights with ``score_model`` (for training)."""
    import tensorflow as tf

    return tf.keras.Model(score_model.input, score_model.get_layer("reconstruction").output)
