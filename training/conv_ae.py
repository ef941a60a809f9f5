"""Plain convolutional autoencoder on jet images: the reference the NuRD study quotes its result against.

Trained on the background images (QCD and W/Z, no labels) to reconstruct them; the score is the sum of
squared pixel residuals, computed inside the graph as for the L1 autoencoder. Full precision only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.autoencoder import add_reconstruction_score
from training.keras_scorer import KerasScorer

RECONSTRUCTION = "reconstruction"


@dataclass
class ConvAEConfig:
    """Encoder Conv2D(3x3, same) + ReLU + 2x2 max pooling per entry; the decoder mirrors it with upsampling."""

    filters: tuple[int, ...] = (16, 8)
    latent: int = 16  # dense bottleneck
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3


class ConvAutoencoder(KerasScorer):
    """Conv AE on (S, S, 1) images (``n_inputs`` = S, a multiple of 2^len(filters)); score = sum of squared residuals."""

    kind = "conv_ae"
    config_class = ConvAEConfig

    def build(self):
        import tensorflow as tf

        cfg = self.config
        size = self.n_inputs
        factor = 2 ** len(cfg.filters)
        if size % factor:
            raise ValueError(
                f"image size {size} must be a multiple of {factor} for {len(cfg.filters)} poolings"
            )
        inputs = self.seeded_input((size, size, 1))
        x = inputs
        for i, filters in enumerate(cfg.filters, start=1):
            x = tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"enc_conv_{i}")(x)
            x = tf.keras.layers.MaxPooling2D(2, name=f"enc_pool_{i}")(x)
        inner = size // factor
        x = tf.keras.layers.Flatten(name="flatten")(x)
        x = tf.keras.layers.Dense(cfg.latent, activation="relu", name="latent")(x)
        x = tf.keras.layers.Dense(inner * inner * cfg.filters[-1], activation="relu", name="dec_dense")(x)
        x = tf.keras.layers.Reshape((inner, inner, cfg.filters[-1]), name="dec_reshape")(x)
        for i, filters in enumerate(reversed(cfg.filters), start=1):
            x = tf.keras.layers.UpSampling2D(2, name=f"dec_up_{i}")(x)
            x = tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec_conv_{i}")(x)
        # Pixels are non-negative pT fractions: a ReLU output cannot reconstruct negative energy.
        reconstruction = tf.keras.layers.Conv2D(1, 3, padding="same", activation="relu", name=RECONSTRUCTION)(
            x
        )
        flat_in = tf.keras.layers.Flatten(name="flat_inputs")(inputs)
        flat_out = tf.keras.layers.Flatten(name="flat_reconstruction")(reconstruction)
        return tf.keras.Model(inputs, add_reconstruction_score(flat_in, flat_out), name="conv_autoencoder")

    def train_graph(
        self, model, X: np.ndarray, X_val: np.ndarray | None, epochs: int, learning_rate: float
    ) -> dict:
        import tensorflow as tf

        reconstruct = tf.keras.Model(model.input, model.get_layer(RECONSTRUCTION).output)
        return self.keras_fit(
            reconstruct, X, X, X_val, X_val, epochs, learning_rate, tf.keras.losses.MeanSquaredError()
        )
