"""The one layer walk (quantize.graph): order, inbound layers and values, consumers, dispatch, refusals."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from l1ad.errors import DesignError  # noqa: E402
from quantize import graph  # noqa: E402


def _branchy():
    """x -> a -> relu ; x -> b ; Subtract([relu, b]) -> Multiply([d, d]) -> out."""
    import tensorflow as tf

    x = tf.keras.Input((3,), name="x")
    a = tf.keras.layers.Dense(3, name="a")(x)
    r = tf.keras.layers.Activation("relu", name="r")(a)
    b = tf.keras.layers.Dense(3, name="b")(x)
    d = tf.keras.layers.Subtract(name="d")([r, b])
    m = tf.keras.layers.Multiply(name="m")([d, d])
    return tf.keras.Model(x, tf.keras.layers.Dense(1, name="out")(m), name="branchy")


def _names(layers) -> list[str]:
    return [layer.name for layer in layers]


def test_nodes_are_topological_with_inbound_in_call_order_and_consumers() -> None:
    model = _branchy()
    nodes = graph.nodes(model)
    order = [n.name for n in nodes]
    assert order == _names(model.layers)  # Keras' own order is kept where it is topological
    position = {name: k for k, name in enumerate(order)}
    for node in nodes:
        assert all(position[p.name] < position[node.name] for p in node.inbound)
    by_name = {n.name: n for n in nodes}
    assert _names(by_name["x"].inbound) == []
    assert _names(by_name["d"].inbound) == ["r", "b"]  # Subtract([r, b]): the order matters
    assert _names(by_name["m"].inbound) == ["d", "d"]
    assert _names(by_name["x"].consumers) == ["a", "b"]
    assert _names(by_name["d"].consumers) == ["m", "m"]
    assert _names(by_name["out"].consumers) == []
    assert {k: _names(v) for k, v in graph.consumers(model).items()}["r"] == ["d"]
    assert by_name["r"].kind == "Activation" and graph.output_name(model) == "out"


def test_walk_passes_each_handler_the_values_of_its_inbound_layers() -> None:
    model = _branchy()
    seen: list[str] = []

    def record(node: graph.Node, args: list) -> str:
        seen.append(node.name)
        return f"{node.name}({','.join(args)})"

    values = graph.walk(model, {"Layer": record}, "test")
    assert seen == _names(model.layers)
    assert values["d"] == "d(r(a(x())),b(x()))"
    assert values["out"] == "out(m(" + values["d"] + "," + values["d"] + "))"


def test_handlers_are_found_by_class_then_nearest_base_class() -> None:
    import tensorflow as tf
    from qkeras import QActivation, QDense

    x = tf.keras.Input((2,), name="x")
    q = QActivation("quantized_bits(8,3,alpha=1)", name="q")(x)
    model = tf.keras.Model(x, QDense(1, name="qd")(q))
    values = graph.walk(
        model,
        {"InputLayer": lambda n, a: "input", "Dense": lambda n, a: "dense", "Layer": lambda n, a: "other"},
        "test",
    )
    assert values == {"x": "input", "q": "other", "qd": "dense"}  # QDense is a Dense
    with_own = graph.handler_for({"Dense": 1, "QDense": 2}, model.get_layer("qd"), "test")
    assert with_own == 2
    # exact classes only: a QDense does not pass for a Dense
    with pytest.raises(ValueError, match=r"layer 'qd' \(QDense\) has no float mapping"):
        graph.walk(
            model,
            dict.fromkeys(("InputLayer", "QActivation", "Dense"), lambda n, a: None),
            "float",
            subclasses=False,
        )


def test_a_layer_without_handler_is_named_with_its_class() -> None:
    import tensorflow as tf

    x = tf.keras.Input((4,), name="x")
    bn = tf.keras.layers.BatchNormalization(name="bn_1")(x)
    model = tf.keras.Model(x, tf.keras.layers.Dense(1, name="out")(bn))
    handlers = {"InputLayer": lambda n, a: None, "Dense": lambda n, a: None}
    with pytest.raises(ValueError, match=r"layer 'bn_1' \(BatchNormalization\) has no firmware mapping"):
        graph.walk(model, handlers, "firmware")
    with pytest.raises(DesignError, match=r"layer 'bn_1' \(BatchNormalization\) has no RTL mapping"):
        graph.walk(model, handlers, "RTL", DesignError)


def test_sequential_walk_starts_at_its_input_layer() -> None:
    import tensorflow as tf

    model = tf.keras.Sequential(
        [
            tf.keras.Input((3,), name="inp"),
            tf.keras.layers.Dense(2, name="h"),
            tf.keras.layers.Dense(1, name="y"),
        ]
    )
    nodes = graph.nodes(model)
    assert [n.name for n in nodes] == ["inp", "h", "y"] and graph.is_input(nodes[0].layer)
    assert _names(nodes[1].inbound) == ["inp"] and _names(nodes[0].consumers) == ["h"]
    assert graph.input_shape(nodes[0].layer) == (3,)


def test_shared_layers_are_refused() -> None:
    import tensorflow as tf

    x = tf.keras.Input((3,), name="x")
    shared = tf.keras.layers.Dense(3, name="shared")
    model = tf.keras.Model(x, shared(shared(x)))
    with pytest.raises(ValueError, match="'shared' is used 2 times"):
        graph.nodes(model)
    with pytest.raises(DesignError, match="shared layers are not supported"):
        graph.walk(model, {"Layer": lambda n, a: None}, "RTL", DesignError)


class InputLayer:  # stands in for Keras' InputLayer, matched by class name
    def __init__(self, name: str) -> None:
        self.name, self.inbound_nodes = name, [SimpleNamespace(inbound_layers=[])]


class Op:
    def __init__(self, name: str, *parents: object) -> None:
        self.name = name
        self.inbound_nodes = [SimpleNamespace(inbound_layers=list(parents))]


def test_layers_listed_out_of_order_are_walked_topologically() -> None:
    x = InputLayer("x")
    a = Op("a", x)
    b = Op("b", a)
    c = Op("c", x, b)
    model = SimpleNamespace(name="m", layers=[c, b, x, a], inputs=[])
    assert [n.name for n in graph.nodes(model)] == ["x", "a", "b", "c"]
    values = graph.walk(model, {"InputLayer": lambda n, v: 1, "Op": lambda n, v: sum(v) + 1}, "test")
    assert values == {"x": 1, "a": 2, "b": 3, "c": 5}
    stray = SimpleNamespace(name="m", layers=[x, Op("d", Op("outside", x))], inputs=[])
    with pytest.raises(ValueError, match="reads 'outside', which is not a layer of 'm'"):
        graph.nodes(stray)


def test_both_quantized_twins_take_the_same_layer_classes() -> None:
    """QKeras and HGQ rebuild one set of layer classes (``twin_handlers``), each with its own handlers."""
    handlers = graph.twin_handlers(*"iwapm")
    assert handlers == {
        "InputLayer": "i",
        "Dense": "w",
        "Conv2D": "w",
        "Activation": "a",
        "MaxPooling2D": "p",
        "Flatten": "p",
        "Subtract": "m",
        "Multiply": "m",
        "Minimum": "m",
        "Add": "m",
    }
