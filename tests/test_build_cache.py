"""The content-addressed C simulation build cache (firmware/build_cache.py), with real g++ builds: the same
project written elsewhere is linked from the cache without compiling and predicts the same; a different
weight is another build; an empty ``L1AD_CSIM_CACHE`` turns the cache off."""

from __future__ import annotations

import numpy as np

from firmware import build_cache


def _project(tmp_path, name: str, scale: float = 1.0):
    import hls4ml
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(4,), name="d")])
    model.set_weights([w * scale for w in model.get_weights()])
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    for layer in config["LayerName"].values():
        layer["Precision"] = {k: "ap_fixed<16,6>" for k in layer["Precision"]}
    return hls4ml.converters.convert_from_keras_model(
        model, output_dir=str(tmp_path / name), backend="Vitis", hls_config=config, io_type="io_parallel"
    )


def test_the_same_project_is_built_once(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("L1AD_CSIM_CACHE", str(tmp_path / "cache"))
    X = np.random.default_rng(0).normal(size=(50, 4))
    first = _project(tmp_path, "a")
    build_cache.compile_model(first)
    assert len(list((tmp_path / "cache").glob("*.so"))) == 1
    builds = []
    second = _project(tmp_path, "b")  # the same model in another folder, with another stamp
    compile_build = second.config.backend.compile
    monkeypatch.setattr(second.config.backend, "compile", lambda m: builds.append(m) or compile_build(m))
    build_cache.compile_model(second)
    assert builds == [] and build_cache.build_key(first) == build_cache.build_key(second)
    np.testing.assert_array_equal(first.predict(X), second.predict(X))
    other = _project(tmp_path, "c", scale=0.5)
    build_cache.compile_model(other)  # one weight differs: another key, another build
    assert len(builds) == 1 and len(list((tmp_path / "cache").glob("*.so"))) == 2
    assert not np.array_equal(first.predict(X), other.predict(X))


def test_an_empty_setting_turns_the_cache_off(monkeypatch) -> None:
    monkeypatch.setenv("L1AD_CSIM_CACHE", "")
    assert build_cache.cache_dir() is None
