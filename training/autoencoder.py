"""Small L1 autoencoder whose anomaly score is computed inside the graph, in one of two forms.

``score: residual`` (default): the whole AE (57-8-57 deployed; ``train.ae.encoder`` adds hidden
layers, mirrored) with ``Subtract([x, x_hat]) -> Multiply([d, d]) -> frozen Dense(1) of ones``, the
*sum* of squared residuals (= 57 x MSE).

``score: latent`` (the CMS Global Trigger's AXOL1TL form): a variational AE is trained on background;
the deployable graph is its encoder only and the score is the sum of squared latent means,
``Multiply([mu, mu]) -> frozen Dense(1) of ones``: half the layers of the whole AE and one square
per latent value instead of 57.

Both scores are sums of squares: exact in fixed point, where a mean with weights 1/N is not, and
bit-exact csim is the standard here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from l1ad.config import AEConfig
from training.epochs import history_columns, train_epochs
from training.keras_scorer import KerasScorer, dense_relu_stack

LATENT = "latent"  # the layer whose output is the latent mean (both forms)


def _ones_sum(x):
    """A frozen Dense(1) of ones without bias: the on-chip sum of ``x``'s features."""
    import tensorflow as tf

    n = int(x.shape[-1])
    layer = tf.keras.layers.Dense(1, use_bias=False, trainable=False, kernel_initializer="ones", name="score")
    out = layer(x)
    layer.set_weights([np.ones((n, 1), dtype=np.float32)])
    return out


def add_reconstruction_score(inputs, reconstruction):
    """Append residual -> square -> frozen sum: the on-chip sum of squared residuals."""
    import tensorflow as tf

    residual = tf.keras.layers.Subtract(name="residual")([inputs, reconstruction])
    squared = tf.keras.layers.Multiply(name="squared_residual")([residual, residual])
    return _ones_sum(squared)


def add_latent_score(latent):
    """Append square -> frozen sum: the on-chip sum of squared latent values (AXOL1TL's score)."""
    import tensorflow as tf

    squared = tf.keras.layers.Multiply(name="squared_latent")([latent, latent])
    return _ones_sum(squared)


class L1Autoencoder(KerasScorer):
    kind = "ae"
    config_class = AEConfig

    def build(self):
        import tensorflow as tf

        inputs = self.seeded_input((self.n_inputs,))
        x = dense_relu_stack(inputs, self.config.encoder, "enc_{}", "enc_{}_relu")
        latent = tf.keras.layers.Dense(self.config.latent, name=LATENT)(x)
        if self.config.score == "latent":
            return tf.keras.Model(inputs, add_latent_score(latent), name="l1_encoder")
        x = dense_relu_stack(latent, tuple(reversed(self.config.encoder)), "dec_{}", "dec_{}_relu")
        reconstruction = tf.keras.layers.Dense(self.n_inputs, name="reconstruction")(x)
        score = add_reconstruction_score(inputs, reconstruction)
        return tf.keras.Model(inputs, score, name="l1_autoencoder")

    def train_graph(
        self, model, X: np.ndarray, X_val: np.ndarray | None, epochs: int, learning_rate: float
    ) -> dict:
        """Residual form: fit the reconstruction. Latent form: the float graph trains as the encoder of a
        VAE; a quantized twin (QAT) learns the float model's latent means (distillation), since the
        score is a function of those alone."""
        import tensorflow as tf

        if self.config.score == "residual":
            target_model, X_target, X_val_target = reconstruction_model(model), X, X_val
        elif model is self.model:
            return fit_vae(model, X, X_val, self.config, epochs, learning_rate, self.seed)
        else:
            target_model = latent_model(model)
            teacher = latent_model(self.model)
            X_target = teacher.predict(X, batch_size=8192, verbose=0)
            X_val_target = None if X_val is None else teacher.predict(X_val, batch_size=8192, verbose=0)
        return self.keras_fit(
            target_model,
            X,
            X_target,
            X_val,
            X_val_target,
            epochs,
            learning_rate,
            tf.keras.losses.MeanSquaredError(),
        )


def reconstruction_model(score_model):
    """The input -> reconstruction sub-model sharing weights with ``score_model`` (for training)."""
    import tensorflow as tf

    return tf.keras.Model(score_model.input, score_model.get_layer("reconstruction").output)


def latent_model(score_model):
    """The input -> latent sub-model of ``score_model``: after the latent's output quantizer when the
    graph has one (the QKeras twin), so distillation trains what the score squares."""
    import tensorflow as tf

    from l1ad.fixedpoint import OUTPUT_QUANTIZER_SUFFIX

    names = {layer.name for layer in score_model.layers}
    name = LATENT + OUTPUT_QUANTIZER_SUFFIX if LATENT + OUTPUT_QUANTIZER_SUFFIX in names else LATENT
    return tf.keras.Model(score_model.input, score_model.get_layer(name).output)


def fit_vae(
    encoder, X: np.ndarray, X_val: np.ndarray | None, config: AEConfig, epochs: int, lr: float, seed: int
) -> dict[str, list[float]]:
    """Train ``encoder`` (input -> latent mean) as a VAE's encoder on background.

    A log-variance head on the last hidden layer and a decoder mirroring the encoder exist only
    here: loss = (1 - kl_weight) x MSE(x, decoder(z)) + kl_weight x KL(N(mu, sigma) || N(0, 1)), with
    z = mu + sigma x eps. One line per epoch, like Keras; history keys loss (and val_loss).
    """
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    hidden = encoder.get_layer(LATENT).input
    twin = tf.keras.Model(encoder.input, [encoder.get_layer(LATENT).output, hidden])
    log_var = tf.keras.layers.Dense(config.latent, name="latent_log_var")
    decoder = tf.keras.Sequential(
        [tf.keras.Input(shape=(config.latent,))]
        + [tf.keras.layers.Dense(w, activation="relu") for w in reversed(config.encoder)]
        + [tf.keras.layers.Dense(int(encoder.input.shape[-1]))],
        name="decoder",
    )
    log_var(tf.zeros((1, int(hidden.shape[-1]))))
    noise = tf.random.Generator.from_seed(seed)
    weights = twin.trainable_variables + log_var.trainable_variables + decoder.trainable_variables
    optimizer = tf.keras.optimizers.Adam(learning_rate=lr)
    w = config.kl_weight

    def loss_of(x, sample: bool):
        mu, h = twin(x, training=sample)
        lv = log_var(h)
        z = mu + tf.exp(0.5 * lv) * noise.normal(tf.shape(mu)) if sample else mu
        mse = tf.reduce_mean(tf.square(x - decoder(z)))
        kl = tf.reduce_mean(tf.reduce_sum(-0.5 * (1.0 + lv - tf.square(mu) - tf.exp(lv)), axis=1))
        return (1.0 - w) * mse + w * kl

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = loss_of(x, sample=True)
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    evaluate = tf.function(lambda x: loss_of(x, sample=False))
    X = np.asarray(X, dtype=np.float32)
    rng = np.random.default_rng(seed)

    def run_epoch(epoch: int, bar: Any) -> dict[str, float]:
        order = rng.permutation(len(X))
        losses = []
        for i in range(0, len(X), config.batch_size):
            losses.append(float(step(X[order[i : i + config.batch_size]])))
            bar.update(1)
        figures = {"loss": float(np.mean(losses))}
        line = f"Epoch {epoch + 1}/{epochs} - loss: {figures['loss']:.4f}"
        if X_val is not None:
            figures["val_loss"] = float(evaluate(np.asarray(X_val, dtype=np.float32)))
            line += f" - val_loss: {figures['val_loss']:.4f}"
        print(line)
        return figures

    history = train_epochs(epochs, -(-len(X) // config.batch_size), run_epoch, "VAE encoder")
    return history_columns(history, ("loss", "val_loss") if X_val is not None else ("loss",))
