"""The content-addressed C simulation build cache (firmware/build_cache.py), with real g++ builds: the same
distributed-arithmetic project written elsewhere is linked from the cache without compiling and predicts
the same; a different weight is another build; a project whose library reads weight files at run time is
reused at its own path only; an empty ``L1AD_CSIM_CACHE`` turns the cache off."""

from __future__ import annotations

import numpy as np

from firmware import build_cache


def _project(tmp_path, name: str, scale: float = 1.0, strategy: str = "distributed_arithmetic"):
    import hls4ml
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential([tf.keras.layers.Dense(3, input_shape=(4,), name="d")])
    model.set_weights([w * scale for w in model.get_weights()])
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    config["Model"]["Strategy"] = strategy
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


def test_a_loaded_library_is_replaced_not_rewritten(tmp_path, monkeypatch) -> None:
    """The same project compiled again in this process (as validate's traced build and a later plain one
    do) takes the cached library at the path it already has loaded: a new file must replace it (rewriting
    the mapped one in place crashed the process)."""
    monkeypatch.setenv("L1AD_CSIM_CACHE", str(tmp_path / "cache"))
    X = np.random.default_rng(1).normal(size=(20, 4))
    model = _project(tmp_path, "a")
    build_cache.compile_model(model)
    expected = model.predict(X)
    for _ in range(3):
        build_cache.compile_model(model)  # a cache hit onto the loaded library's own path
        np.testing.assert_array_equal(model.predict(X), expected)


def test_a_library_that_reads_weight_files_is_reused_at_its_own_path_only(tmp_path, monkeypatch) -> None:
    """hls4ml's Latency layers keep weight arrays that the C simulation reads from text files under the
    project's absolute path at run time: another folder gets its own build (it used to take the first
    folder's library, which read that folder's files, and exited once they were gone)."""
    import shutil

    monkeypatch.setenv("L1AD_CSIM_CACHE", str(tmp_path / "cache"))
    X = np.random.default_rng(2).normal(size=(20, 4))
    first = _project(tmp_path, "a", strategy="Latency")
    build_cache.compile_model(first)
    expected = first.predict(X)
    second = _project(tmp_path, "b", strategy="Latency")
    second.write()
    assert build_cache.build_key(first) != build_cache.build_key(second)
    shutil.rmtree(tmp_path / "a")
    build_cache.compile_model(second)
    np.testing.assert_array_equal(second.predict(X), expected)


def test_the_sharded_csim_rebuilds_a_moved_library_that_reads_weight_files(tmp_path) -> None:
    """A Latency project compiled in a stage's temporary folder, then renamed as the stage does:
    `l1ad csim` (firmware.shard.build_library) builds it again instead of reusing a library that would
    look for its weight files in the old folder, and scores as the original did."""
    from firmware.shard import CsimLibrary, build_library

    X = np.random.default_rng(3).normal(size=(10, 4))
    model = _project(tmp_path, "partial", strategy="Latency")
    build_cache.compile_model(model)
    expected = model.predict(X)[:, 0]
    (tmp_path / "partial").rename(tmp_path / "final")
    assert build_cache.reads_weight_files(tmp_path / "final")
    library, function = build_library(tmp_path / "final", tmp_path / "build")
    assert (tmp_path / "build" / "build_lib.sh").is_file()  # compiled in the copy, not reused
    np.testing.assert_array_equal(CsimLibrary(library, function, 4).predict(X), expected)
