"""The model shapes hls4ml users bring (issue 27's table), built here with Keras, QKeras and HGQ only.

Each builder returns a ``Shape``: the model (trained a few steps on seeded synthetic inputs, so batch norms
and weights have left their initial values), the inputs and labels it is validated on, and the flags
`l1ad firmware --model` needs beyond the defaults (``--logits`` where a softmax ends it). ``full=True``
gives the public examples' sizes (``scripts/bench_byo.py``); ``full=False`` a smaller one of the same
shape, for the test suite. Labels follow a fixed, seeded rule of the inputs (``_task``): a learnable task,
nothing tuned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Shape:
    """A model as a user saves it, with validation inputs, labels and the extra CLI flags."""

    name: str
    model: Any
    X: np.ndarray
    y: np.ndarray
    flags: list[str] = field(default_factory=list)
    json_only: str | None = None  # an architecture JSON to write instead of the .h5 (old Keras files)

    def save(self, folder: Path) -> list[str]:
        """Write model, inputs and labels under ``folder``; the `l1ad firmware` arguments that use them."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "inputs.npy", self.X)
        np.save(folder / "labels.npy", self.y)
        if self.json_only is not None:
            (folder / f"{self.name}.json").write_text(self.json_only)
            self.model.save_weights(folder / f"{self.name}_weights.h5")
            model = [
                "--model",
                str(folder / f"{self.name}.json"),
                "--weights",
                str(folder / f"{self.name}_weights.h5"),
            ]
        else:
            self.model.save(folder / f"{self.name}.h5", save_format="h5")
            model = ["--model", str(folder / f"{self.name}.h5")]
        data = ["--data", str(folder / "inputs.npy"), "--labels", str(folder / "labels.npy")]
        return [*model, *data, *self.flags]


def _task(shape: tuple[int, ...], n_events: int, n_classes: int, seed: int, images: bool = False):
    """Seeded inputs and labels: standardised features labelled by a random linear rule, or pixel
    intensities in [0, 1) labelled by the brightest of ``n_classes`` horizontal bands (a rule a small CNN
    can learn)."""
    rng = np.random.default_rng(seed)
    if images:
        X = rng.uniform(0, 1, (n_events, *shape))
        bands = np.array_split(np.arange(shape[0]), n_classes)
        y = np.argmax([X[:, rows].mean(axis=tuple(range(1, X.ndim))) for rows in bands], axis=0)
    else:
        X = rng.normal(size=(n_events, *shape))
        y = np.argmax(X.reshape(n_events, -1) @ rng.normal(size=(int(np.prod(shape)), n_classes)), axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def _fit(model: Any, X: np.ndarray, y: np.ndarray, epochs: int = 10) -> Any:
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=epochs, batch_size=256, verbose=0)
    return model


def qkeras_jet_tagger(full: bool = True) -> Shape:
    """The hls4ml tutorial's QKeras jet tagger: 16-64-32-32-5, 6-bit weights and ReLUs, softmax, no input
    quantizer (l1ad profiles the input type)."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    tf.keras.utils.set_random_seed(1)
    widths = (64, 32, 32) if full else (16, 8)
    q = "quantized_bits(6,0,alpha=1)"
    model = tf.keras.Sequential(name="qkeras_jet_tagger")
    for i, units in enumerate(widths):
        kw = {"input_shape": (16,)} if i == 0 else {}
        model.add(QDense(units, kernel_quantizer=q, bias_quantizer=q, name=f"fc{i + 1}", **kw))
        model.add(QActivation("quantized_relu(6)", name=f"relu{i + 1}"))
    model.add(QDense(5, kernel_quantizer=q, bias_quantizer=q, name="output"))
    model.add(tf.keras.layers.Activation("softmax", name="softmax"))
    X, y = _task((16,), 4000, 5, seed=1)
    return Shape("qkeras_jet_tagger", _fit(model, X, y), X, y, ["--logits"])


def po2_mnist_dense(full: bool = True) -> Shape:
    """The hls4ml MNIST dense example's quantizers: quantized_po2(4, max_value=1) kernels,
    quantized_bits(2, 0, alpha=None) biases, quantized_relu(2) inputs and activations; 784-20-10."""
    import tensorflow as tf
    from qkeras import QActivation, QDense
    from qkeras.quantizers import quantized_bits, quantized_po2, quantized_relu

    tf.keras.utils.set_random_seed(2)
    n_in = 784 if full else 64
    inp = tf.keras.Input((n_in,), name="x")
    h = QActivation(quantized_relu(2), name="in_q")(inp)
    for name, units in (("d1", 20), ("d2", 10)):
        h = QDense(
            units,
            kernel_quantizer=quantized_po2(4, max_value=1),
            bias_quantizer=quantized_bits(2, 0, alpha=None),
            name=name,
        )(h)
        if name == "d1":
            h = QActivation(quantized_relu(2), name="r1")(h)
    out = tf.keras.layers.Activation("softmax", name="sm")(h)
    X, y = _task((n_in,), 4000, 10, seed=2, images=True)
    return Shape(
        "po2_mnist_dense", _fit(tf.keras.Model(inp, out, name="po2_mnist_dense"), X, y), X, y, ["--logits"]
    )


def qkeras_mnist_cnn(full: bool = True) -> Shape:
    """A QKeras MNIST CNN: 8-bit input, two QConv2D (6-bit) with ReLU and max pooling, a dense softmax."""
    import tensorflow as tf
    from qkeras import QActivation, QConv2D, QDense

    tf.keras.utils.set_random_seed(3)
    side, filters = (28, (8, 16)) if full else (10, (3, 4))
    q = "quantized_bits(6,0,alpha=1)"
    inp = tf.keras.Input((side, side, 1), name="img")
    x = QActivation("quantized_bits(8,0,alpha=1)", name="in_q")(inp)
    for i, n in enumerate(filters):
        x = QConv2D(n, (3, 3), kernel_quantizer=q, bias_quantizer=q, name=f"conv{i + 1}")(x)
        x = QActivation("quantized_relu(6)", name=f"crelu{i + 1}")(x)
        x = tf.keras.layers.MaxPooling2D((2, 2), name=f"pool{i + 1}")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = QDense(10, kernel_quantizer=q, bias_quantizer=q, name="dense")(x)
    out = tf.keras.layers.Activation("softmax", name="softmax")(x)
    X, y = _task((side, side, 1), 2000, 10, seed=3, images=True)
    return Shape(
        "qkeras_mnist_cnn", _fit(tf.keras.Model(inp, out, name="qkeras_mnist_cnn"), X, y), X, y, ["--logits"]
    )


def float_jet_tagger(full: bool = True, batch_norm: bool = False) -> Shape:
    """The hls4ml tutorial's float jet tagger, 16-64-32-32-5 with ReLUs and softmax, optionally with a
    BatchNormalization after each hidden Dense."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(4)
    name = "float_jet_tagger_bn" if batch_norm else "float_jet_tagger"
    model = tf.keras.Sequential(name=name)
    for i, units in enumerate((64, 32, 32) if full else (16, 8)):
        kw = {"input_shape": (16,)} if i == 0 else {}
        model.add(tf.keras.layers.Dense(units, name=f"fc{i + 1}", **kw))
        if batch_norm:
            model.add(tf.keras.layers.BatchNormalization(name=f"bn{i + 1}"))
        model.add(tf.keras.layers.Activation("relu", name=f"relu{i + 1}"))
    model.add(tf.keras.layers.Dense(5, activation="softmax", name="output"))
    X, y = _task((16,), 4000, 5, seed=4)
    return Shape(name, _fit(model, X, y), X, y, ["--logits"])


def float_conv1d(full: bool = True) -> Shape:
    """A float Conv1D tagger on 10 particles x 4 features: three Conv1D, two Dense, softmax."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(5)
    filters = (16, 8, 8) if full else (4, 4, 4)
    inp = tf.keras.Input((10, 4), name="particles")
    x = inp
    for i, n in enumerate(filters):
        x = tf.keras.layers.Conv1D(n, 3, activation="relu", name=f"conv{i + 1}")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    x = tf.keras.layers.Dense(16 if full else 8, activation="relu", name="fc1")(x)
    out = tf.keras.layers.Dense(5, activation="softmax", name="output")(x)
    X, y = _task((10, 4), 4000, 5, seed=5)
    return Shape(
        "float_conv1d", _fit(tf.keras.Model(inp, out, name="float_conv1d"), X, y), X, y, ["--logits"]
    )


def float_conv2d_bn(full: bool = True) -> Shape:
    """A float Conv2D jet-image tagger, 25x25x1: Conv2D-BatchNormalization-ReLU-pool twice, Dense, softmax."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(6)
    side, filters = (25, (4, 8)) if full else (14, (2, 3))
    inp = tf.keras.Input((side, side, 1), name="image")
    x = inp
    for i, n in enumerate(filters):
        x = tf.keras.layers.Conv2D(n, (3, 3), name=f"conv{i + 1}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
        x = tf.keras.layers.Activation("relu", name=f"relu{i + 1}")(x)
        x = tf.keras.layers.MaxPooling2D((2, 2), name=f"pool{i + 1}")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    out = tf.keras.layers.Dense(5, activation="softmax", name="output")(x)
    X, y = _task((side, side, 1), 2000, 5, seed=6, images=True)
    return Shape(
        "float_conv2d_bn", _fit(tf.keras.Model(inp, out, name="float_conv2d_bn"), X, y), X, y, ["--logits"]
    )


def hgq_proxy(full: bool = True) -> Shape:
    """An HGQ jet tagger saved as HGQ's ``to_proxy_model`` writes it (one .h5, ``FixedPointQuantizer``
    layers), with its logits as output: HGQ proxies fix their own graph."""
    import tensorflow as tf
    from HGQ import to_proxy_model, trace_minmax
    from HGQ.layers import HDense, HQuantize

    tf.keras.utils.set_random_seed(7)
    X, y = _task((16,), 4000, 5, seed=7)
    inp = tf.keras.Input((16,), name="x")
    h = HQuantize(beta=1e-5, name="inp_q")(inp)
    for i, units in enumerate((64, 32, 32) if full else (16, 8)):
        h = HDense(units, activation="relu", beta=1e-5, name=f"fc{i + 1}")(h)
    out = HDense(5, beta=1e-5, name="output")(h)
    model = tf.keras.Model(inp, out, name="hgq_jet_tagger")
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(X, y, epochs=10, batch_size=256, verbose=0)
    trace_minmax(model, X, cover_factor=1.0, verbose=False)
    return Shape("hgq_proxy", to_proxy_model(model), X, y)


def keras20_json(full: bool = True) -> Shape:
    """A float Sequential MLP whose architecture JSON is as Keras 2.0-2.2 wrote it (the config a list of
    layers, the first with ``batch_input_shape``), weights in a separate .h5."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(8)
    model = tf.keras.Sequential(name="keras20_mlp")
    model.add(tf.keras.layers.Dense(32 if full else 8, activation="relu", input_shape=(16,), name="fc1"))
    model.add(tf.keras.layers.Dense(5, activation="softmax", name="output"))
    X, y = _task((16,), 4000, 5, seed=8)
    return Shape(
        "keras20_mlp", _fit(model, X, y), X, y, ["--logits"], json_only=keras20_sequential_json(model)
    )


def keras20_sequential_json(model: Any) -> str:
    """``model``'s architecture as Keras 2.0-2.2 wrote a Sequential one: the config is the list of its
    layers (the first carrying ``batch_input_shape``), no module or registration keys."""
    layers = [
        layer
        for layer in json.loads(model.to_json())["config"]["layers"]
        if layer["class_name"] != "InputLayer"
    ]
    layers[0]["config"]["batch_input_shape"] = [None, *model.input_shape[1:]]

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("module", "registered_name", "build_config"):
                node.pop(key, None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)

    strip(layers)
    return json.dumps(
        {"class_name": "Sequential", "config": layers, "keras_version": "2.0.8", "backend": "tensorflow"}
    )


SHAPES: dict[str, Callable[[bool], Shape]] = {
    "qkeras_jet_tagger": qkeras_jet_tagger,
    "po2_mnist_dense": po2_mnist_dense,
    "qkeras_mnist_cnn": qkeras_mnist_cnn,
    "float_jet_tagger": float_jet_tagger,
    "float_jet_tagger_bn": lambda full=True: float_jet_tagger(full, batch_norm=True),
    "float_conv1d": float_conv1d,
    "float_conv2d_bn": float_conv2d_bn,
    "hgq_proxy": hgq_proxy,
    "keras20_mlp": keras20_json,
}
