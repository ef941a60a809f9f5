"""One walk over a Keras graph, shared by every pass that reads or rebuilds a model layer by layer.

``walk`` visits the layers of a functional or Sequential model in topological order and calls, for
each, the handler of its class (``handler_for``: the layer's class or its nearest base class, by
name) with the layer's ``Node`` (inbound layers, consumers) and the values its inbound layers'
handlers returned. A layer whose class has no handler stops the walk with an error naming the layer
and its class. Users: ``quantize.qmodels`` (QKeras rebuild, ``clone_graph``), ``quantize.hgq`` (HGQ
rebuild; both take the layer classes of ``twin_handlers``), ``firmware.hls`` (precision plan), ``firmware.rtl`` (da4ml tracer); ``firmware.byo`` and
``firmware.byo_graph`` read inbound layers through ``inbound_layers``. (``firmware.resources`` reads
hls4ml's converted graph, not Keras': it dispatches on its own dict of hls4ml layer classes.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    """One layer of a graph: the layers it reads (in call order) and the layers that read it."""

    layer: Any
    inbound: tuple[Any, ...]
    consumers: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def kind(self) -> str:
        return type(self.layer).__name__


# A handler gets the node and the values its inbound layers' handlers returned; what it returns is
# the layer's value (a tensor, a fixed-point format, a traced array...).
Handler = Callable[[Node, list[Any]], Any]


def is_input(layer: Any) -> bool:
    """Whether ``layer`` is a Keras ``InputLayer``."""
    return any(cls.__name__ == "InputLayer" for cls in type(layer).__mro__)


def input_shape(layer: Any) -> tuple[Any, ...]:
    """The shape of one event at an ``InputLayer`` (without the batch axis)."""
    return tuple(layer.get_config()["batch_input_shape"][1:])


def inbound_layers(layer: Any, error: type[Exception] = ValueError) -> list[Any]:
    """The layers ``layer`` reads, in call order (none for an input); a layer called more than once is refused."""
    import tensorflow as tf

    nodes = layer.inbound_nodes
    if len(nodes) != 1:
        raise error(f"layer '{layer.name}' is used {len(nodes)} times; shared layers are not supported")
    return tf.nest.flatten(nodes[0].inbound_layers)


def _graph_layers(model: Any) -> list[Any]:
    """``model.layers``, preceded by its input layers where it does not list them (a Sequential)."""
    layers = list(model.layers)
    listed = {id(layer) for layer in layers}
    inputs = [t.node.layer for t in (model.inputs or [])]
    return [layer for layer in inputs if id(layer) not in listed] + layers


def nodes(model: Any, error: type[Exception] = ValueError) -> list[Node]:
    """Every layer of ``model`` as a ``Node``, in topological order.

    Layers keep the order of ``model.layers`` wherever that order allows (Keras lists a functional
    model's layers topologically already), so a walk visits them as a loop over ``model.layers`` does.
    """
    layers = _graph_layers(model)
    by_name = {layer.name: layer for layer in layers}
    parents: dict[str, list[Any]] = {}
    for layer in layers:
        parents[layer.name] = [] if is_input(layer) else inbound_layers(layer, error)
        for p in parents[layer.name]:
            if by_name.get(p.name) is not p:
                raise error(f"layer '{layer.name}' reads '{p.name}', which is not a layer of '{model.name}'")
    order: list[Any] = []
    placed: set[str] = set()
    remaining = list(layers)
    while remaining:
        ready = next(
            (k for k, layer in enumerate(remaining) if all(p.name in placed for p in parents[layer.name])),
            None,
        )
        if ready is None:
            raise error(f"model '{model.name}' has a cycle through '{remaining[0].name}'")
        layer = remaining.pop(ready)
        order.append(layer)
        placed.add(layer.name)
    users: dict[str, list[Any]] = {layer.name: [] for layer in order}
    for layer in order:
        for p in parents[layer.name]:
            users[p.name].append(layer)
    return [Node(layer, tuple(parents[layer.name]), tuple(users[layer.name])) for layer in order]


def consumers(model: Any, error: type[Exception] = ValueError) -> dict[str, list[Any]]:
    """Layer name -> the layers of ``model`` that read its output, in walk order."""
    return {node.name: list(node.consumers) for node in nodes(model, error)}


def no_mapping(layer: Any, what: str) -> str:
    """The message of a layer ``what`` (QKeras, HGQ, firmware, RTL) cannot handle, naming it and its class."""
    return f"layer '{layer.name}' ({type(layer).__name__}) has no {what} mapping"


def handler_for(
    handlers: dict[str, Handler | None],
    layer: Any,
    what: str,
    error: type[Exception] = ValueError,
    subclasses: bool = True,
) -> Handler:
    """The handler of ``layer``'s class, else of its nearest base class (keys are class names).

    A QDense finds a "QDense" handler first and a "Dense" one otherwise, as ``isinstance`` would; a
    "Layer" key catches every Keras layer left. ``subclasses=False`` takes the exact class only (a
    rebuild of float layers, where a Conv2DTranspose must not pass for a Conv2D). A key mapped to None
    stops the search: that class has no mapping, whatever its bases have.
    """
    for cls in type(layer).__mro__ if subclasses else [type(layer)]:
        if cls.__name__ in handlers:
            handler = handlers[cls.__name__]
            if handler is None:
                break
            return handler
    raise error(no_mapping(layer, what))


def walk(
    model: Any,
    handlers: dict[str, Handler | None],
    what: str,
    error: type[Exception] = ValueError,
    subclasses: bool = True,
) -> dict[str, Any]:
    """Call each layer's handler in topological order; returns layer name -> the value its handler returned.

    ``what`` names the pass in the error raised (as ``error``) for a layer no handler takes;
    ``subclasses`` as in ``handler_for``.
    """
    values: dict[str, Any] = {}
    for node in nodes(model, error):
        handler = handler_for(handlers, node.layer, what, error, subclasses)
        values[node.name] = handler(node, [values[p.name] for p in node.inbound])
    return values


def twin_handlers(
    input_layer: Handler, weighted: Handler, activation: Handler, passive: Handler, merge: Handler
) -> dict[str, Handler]:
    """The handlers of a quantized twin's rebuild (QKeras, HGQ): one per layer class a deployable graph
    may hold. ``weighted`` takes Dense and Conv2D, ``activation`` the ReLU layers, ``passive`` the
    layers that move or select values (MaxPooling2D, Flatten), ``merge`` the exact combinations of
    two tensors (Subtract, Multiply, Minimum, Add)."""
    return {
        "InputLayer": input_layer,
        "Dense": weighted,
        "Conv2D": weighted,
        "Activation": activation,
        **dict.fromkeys(("MaxPooling2D", "Flatten"), passive),
        **dict.fromkeys(("Subtract", "Multiply", "Minimum", "Add"), merge),
    }


def output_name(model: Any) -> str:
    """The name of the layer that produces ``model``'s single output."""
    return model.outputs[0].node.layer.name
