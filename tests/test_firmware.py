"""Tests of the hls4ml conversion and C simulation: types from the quantizers, bit-exact csim, saturation.

Each conversion is compiled with g++ (a few seconds); the float models get a short fit so
their weights and activations have realistic ranges.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from firmware import csim, hls, resources
from l1ad.config import AEConfig, FirmwareConfig, OCDNConfig, QuantBits, QuantizeConfig
from l1ad.errors import DesignError
from l1ad.io import read_json, write_json
from quantize import qmodels
from training.autoencoder import L1Autoencoder, reconstruction_model
from training.ocdn import OCDN

BITS = QuantBits()
LATENCY = FirmwareConfig(
    strategy="Latency"
)  # hls4ml's Latency strategy (the default is distributed arithmetic)
N_BACKGROUND, N_SIGNAL = 3000, 1000


def _standardise(background: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean, std = background.mean(axis=0), background.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(np.float32) for x in (background, *others)]


def dijet_features(n_background: int, n_signal: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised OCDN inputs (mjj, mj_min, dm, tau21_light, tau21_heavy) in the signal region, TeV.

    QCD jets: steeply falling masses and one-prong tau21 ~ 0.6; W' -> X(500 GeV) Y(100 GeV):
    resonant jet masses with 8% resolution and two-prong tau21 ~ 0.25.
    """
    rng = np.random.default_rng(seed)

    def events(n: int, signal: bool) -> np.ndarray:
        mjj = rng.normal(3.5, 0.12, n)
        if signal:
            m = np.stack([rng.normal(0.5, 0.04, n), rng.normal(0.1, 0.008, n)], axis=1)
            tau = rng.beta(2.0, 6.0, (n, 2))
        else:
            m = 0.02 + rng.exponential(0.1, (n, 2))
            tau = rng.beta(6.0, 4.0, (n, 2))
        light = np.argmin(m, axis=1)
        rows = np.arange(n)
        return np.stack(
            [mjj, m.min(1), np.abs(m[:, 0] - m[:, 1]), tau[rows, light], tau[rows, 1 - light]], axis=1
        )

    background, signal = _standardise(events(n_background, False), events(n_signal, True))
    return np.concatenate([background, signal]), np.r_[np.zeros(n_background), np.ones(n_signal)]


def l1_inputs(n_background: int, n_signal: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """57 AE inputs: 19 slots (MET, 4 e, 4 mu, 10 jets) x [pT standardised per slot, eta, phi], empty = 0.

    Background: W/QCD-like, about one soft lepton and three jets; signal: four hard leptons (A -> 4l).
    """
    rng = np.random.default_rng(seed)
    slots = np.r_[0, [1] * 4, [2] * 4, [3] * 10]  # class per slot: MET, electron, muon, jet
    rank = np.r_[0, np.arange(4), np.arange(4), np.arange(10)]

    def events(n: int, signal: bool) -> np.ndarray:
        counts = np.stack(
            [np.ones(n), rng.poisson(2.0 if signal else 0.6, n), rng.poisson(2.0 if signal else 0.5, n),
             rng.poisson(3.0, n)], axis=1,
        )  # fmt: skip
        filled = rank[None, :] < counts[:, slots]
        scale = np.where(slots == 3, 30.0, 60.0 if signal else 25.0)
        pt = np.sort(20.0 + rng.pareto(3.0, (n, 19)) * scale, axis=1)[:, ::-1] * filled
        eta = np.where(slots == 0, 0.0, rng.uniform(-2.5, 2.5, (n, 19))) * filled
        phi = rng.uniform(-np.pi, np.pi, (n, 19)) * filled
        return np.stack([pt, eta, phi], axis=-1)

    background, signal = events(n_background, False), events(n_signal, True)
    mean, std = background[..., 0].mean(0), background[..., 0].std(0)
    for x in (background, signal):
        x[..., 0] = np.where(x[..., 0] > 0, (x[..., 0] - mean) / np.where(std > 0, std, 1.0), 0.0)
    X = np.concatenate([background, signal]).reshape(-1, 57).astype(np.float32)
    return X, np.r_[np.zeros(n_background), np.ones(n_signal)]


def _fit(model, X: np.ndarray, Y: np.ndarray, loss, steps: int = 300) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(5)
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss=loss)
    batch = 64
    model.fit(X, Y, batch_size=batch, epochs=max(1, steps * batch // len(X)), verbose=0)


@pytest.fixture(scope="module")
def ocdn_case():
    import tensorflow as tf

    X, y = dijet_features(N_BACKGROUND, N_SIGNAL, seed=11)
    model = OCDN(OCDNConfig(hidden=(32, 32, 32)), n_inputs=5, seed=1).build()
    background = X[y == 0]
    _fit(
        model,
        background,
        np.zeros((len(background), 1)),
        tf.keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model, qmodels.quantize_inputs(X, BITS.input_bits, BITS.input_integer), y


@pytest.fixture(scope="module")
def ae_case():
    X, y = l1_inputs(N_BACKGROUND, N_SIGNAL, seed=12)
    model = L1Autoencoder(AEConfig(encoder=(32, 16), latent=3), n_inputs=57, seed=1).build()
    background = X[y == 0]
    _fit(reconstruction_model(model), background, background, "mse")
    return model, qmodels.quantize_inputs(X, BITS.input_bits, BITS.input_integer), y


def _assert_types_follow_quantizers(hls_model, qmodel) -> None:
    """Every quantized tensor in the firmware has exactly its QKeras quantizer's type (STACK.md check)."""
    from qkeras import QActivation, QDense

    hls_layers = {layer.name: layer for layer in hls_model.get_layers()}
    checked = 0
    for layer in qmodel.layers:
        if isinstance(layer, QActivation):
            # input_quantizer and <dense>_quantizer are folded into the layer they follow
            owner = {"input_quantizer": "inputs"}.get(layer.name, layer.name.removesuffix("_quantizer"))
            got = hls.format_of(hls_layers[owner].get_output_variable().type.precision)
            assert got == hls.quantizer_format(layer.quantizer, layer.name), owner
            checked += 1
        elif isinstance(layer, QDense):
            got = hls.format_of(hls_layers[layer.name].weights["weight"].type.precision)
            expected = hls.quantizer_format(layer.get_quantizers()[0], layer.name)
            assert (got.signed, got.width, got.integer) == (True, expected.width, expected.integer), (
                layer.name
            )
            checked += 1
    assert checked >= 8


def test_ocdn_csim_is_bit_identical_to_qkeras(ocdn_case, tmp_path) -> None:
    model, X, y = ocdn_case
    q = qmodels.to_qkeras(model, BITS)
    reference = qmodels.predict_exact(q, X)
    h = hls.convert(q, tmp_path / "ocdn", LATENCY, X, "ocdn", testbench=(X[:50], reference[:50]))
    _assert_types_follow_quantizers(h, q)
    # logit accumulator: 7 weight + 4 ReLU fractional bits, kept unrounded as the score
    assert hls.output_lsb(h) == 2.0**-11
    assert not any(t == "auto" for t in hls.layer_precisions(h).values())
    for name in ("build_prj.tcl", "firmware/ocdn.cpp", "ocdn_test.cpp"):
        assert (tmp_path / "ocdn" / name).is_file(), name
    tb = (tmp_path / "ocdn" / "tb_data" / "tb_input_features.dat").read_text().splitlines()
    assert len(tb) == 50
    np.testing.assert_array_equal(np.array(tb[3].split(), dtype=float), X[3])
    scores = csim.compile_and_predict(h, X)
    agreement = csim.csim_agreement(scores, reference, hls.output_lsb(h))
    assert agreement["n_events"] == len(X) == N_BACKGROUND + N_SIGNAL
    assert agreement["exact_fraction"] == 1.0 and agreement["max_diff_lsb"] == 0.0


def test_ae_validation_is_bit_identical_without_saturation(ae_case, tmp_path) -> None:
    model, X, y = ae_case
    q = qmodels.to_qkeras(model, BITS)
    h = hls.convert(q, tmp_path / "ae", LATENCY, X, "ae")
    _assert_types_follow_quantizers(h, q)
    assert hls.output_lsb(h) == 2.0**-18  # the square of a 2^-9 residual, summed without rounding
    float_scores = model.predict(X, batch_size=4096, verbose=0).reshape(-1)
    result, scores = csim.validate(h, q, X, y, float_scores, max_trace_events=300)
    assert scores.shape == (len(X),)
    assert result["agreement"]["exact_fraction"] == 1.0
    assert result["auc"]["csim"] == result["auc"]["qkeras"]
    assert 0.5 < result["auc"]["float"] <= 1.0  # four hard leptons are far from the background
    # up to 300 events of each class are traced, and every class is reported
    assert result["saturation"]["n_traced"] == 600
    assert {k: v["n_traced"] for k, v in result["saturation"]["per_class"].items()} == {"0": 300, "1": 300}
    assert result["saturation"]["n_events"] == 0 and result["saturation"]["n_deviating_events"] == 0
    assert set(result["saturation"]["per_layer"]) >= {
        "enc_1",
        "latent",
        "residual",
        "squared_residual",
        "score",
    }
    assert result["relu_inputs_beyond_float32"] == []
    assert result["timing"]["csim_events_per_s"] > 0
    write_json(tmp_path / "csim.json", result)
    assert read_json(tmp_path / "csim.json")["output_type"] == result["layer_precisions"]["score"]


def test_starved_precisions_are_caught_as_saturation(tmp_path) -> None:
    import tensorflow as tf

    X, y = dijet_features(1500, 500, seed=13)
    model = OCDN(OCDNConfig(hidden=(64, 32)), n_inputs=5, seed=2).build()
    _fit(
        model, X[y == 0], np.zeros((1500, 1)), tf.keras.losses.BinaryCrossentropy(from_logits=True), steps=200
    )
    Xq = qmodels.quantize_inputs(X, BITS.input_bits, BITS.input_integer)
    q = qmodels.to_qkeras(model, BITS)
    starved = hls.convert(
        q, tmp_path / "starved", FirmwareConfig(strategy="Latency", headroom_bits=-3), Xq, "starved"
    )
    found = csim.saturation_events(starved, q, Xq, max_events=400)
    assert found["n_traced"] == 400
    assert found["n_events"] > 0 and found["per_layer"]["logit"]["out_of_range"] > 0
    # the saturated logit is what the firmware outputs: the trace sees it deviate from QKeras
    assert 0 < found["per_layer"]["logit"]["deviating"] <= found["per_layer"]["logit"]["out_of_range"]
    assert found["n_deviating_events"] > 0


def test_unquantized_inputs_are_refused() -> None:
    X, _ = dijet_features(200, 0, seed=14)
    q = qmodels.to_qkeras(OCDN(OCDNConfig(hidden=(8,)), n_inputs=5).build(), BITS)
    with pytest.raises(ValueError, match="quantize_inputs"):
        hls.plan_precisions(q, X * 1.0001, headroom_bits=1)
    plan = hls.plan_precisions(q, qmodels.quantize_inputs(X, 16, 6), headroom_bits=1)
    assert plan["inputs"]["result"] == "ap_fixed<16,7,AP_RND_CONV,AP_SAT>"
    assert plan["relu_1"]["result"] == "ap_ufixed<8,4,AP_RND_CONV,AP_SAT>"
    # the Dense before a ReLU keeps every fractional bit (9 input + 7 weight) and covers the ReLU's range
    assert (
        plan["dense_1"]["result"].startswith("ap_fixed<") and ",AP_TRN,AP_SAT>" in plan["dense_1"]["result"]
    )
    width, integer = map(int, plan["dense_1"]["result"][9:].split(",")[:2])
    assert width - integer == 16 and integer >= 5


def test_distributed_arithmetic_encoder_is_bit_identical_without_dsp(tmp_path) -> None:
    """The AXOL1TL form (VAE encoder, sum of squared latent means, trigger formats, 6-bit weights) in
    distributed arithmetic: csim equals the exact QKeras score on every event; the DA layers' LUTs are
    da4ml's own cost, and the design uses no DSP."""
    X, y = l1_inputs(N_BACKGROUND, N_SIGNAL, seed=15)
    config = AEConfig(encoder=(8,), latent=4, score="latent", epochs=2, batch_size=256)
    scorer = L1Autoencoder(config, n_inputs=57, seed=2)
    scorer.fit(X[y == 0])
    assert len(scorer.history["loss"]) == 2 and np.isfinite(scorer.history["loss"]).all()
    # the deployed formats, latent means as quantized_bits(9, 4): 9 x 9-bit squares go to LUTs
    bits = dataclasses.replace(QuantizeConfig().ae.bits, output_bits=9, output_integer=4)
    q = qmodels.to_qkeras(scorer.model, bits)
    Xq = qmodels.quantize_inputs(X, bits.input_bits, bits.input_integer)
    reference = qmodels.predict_exact(q, Xq)
    h = hls.convert(q, tmp_path / "da", FirmwareConfig(), Xq, "da")
    da_layers = {layer.name for layer in h.get_layers() if layer.get_attr("da_kernel_cost") is not None}
    assert da_layers >= {"enc_1", "latent"}
    scores = csim.compile_and_predict(h, Xq)
    agreement = csim.csim_agreement(scores, reference, hls.output_lsb(h))
    assert agreement["n_events"] == len(X) and agreement["exact_fraction"] == 1.0

    est = resources.estimate(h, "xcvu9p-flga2104-2L-e", 5.0)
    assert est["source"] == "estimate+da4ml"
    for name in ("enc_1", "latent"):
        layer = est["layers"][name]
        assert layer["source"] == "da4ml" and layer["dsp"] == 0
        assert layer["lut"] == round(h.graph[name].get_attr("da_kernel_cost")) > 0
        assert layer["delay_ns"] > 0 and layer["bops"] > 0 and layer["parameters"] > 0
    assert est["layers"]["squared_latent"]["source"] == "estimate"  # 9 x 9-bit squares: fabric, not DA
    assert est["dsp"] == 0 and est["ii"] == 1


def test_oversized_distributed_arithmetic_is_refused_or_built_with_latency_on_its_own() -> None:
    """A 128x128 layer of 8-bit weights would run da4ml for many minutes and gigabytes: one line instead
    (the deployed chain), or that layer alone with the Latency strategy (a bring-your-own model's)."""
    q = qmodels.to_qkeras(OCDN(OCDNConfig(hidden=(128, 128)), n_inputs=5, seed=1).build(), BITS)
    sizes = hls.da_kernel_sizes(q)
    assert sizes["dense_2"]["inputs"] == 128 and sizes["dense_2"]["bits"] <= 9
    assert sizes["dense_1"]["size"] < hls.DA_MAX_KERNEL_SIZE < sizes["dense_2"]["size"]
    with pytest.raises(DesignError, match=r"layer 'dense_2': distributed arithmetic of 128 inputs") as err:
        hls.base_config(q, FirmwareConfig())
    assert "\n" not in str(err.value) and "firmware.strategy Latency (--strategy Latency)" in str(err.value)
    hls.base_config(q, LATENCY)  # the Latency strategy has no such limit
    said: list[str] = []
    config = hls.base_config(q, FirmwareConfig(), fallback=said.append)
    assert config["Model"]["Strategy"] == "distributed_arithmetic"
    assert (
        config["LayerName"]["dense_2"]["Strategy"] == "Latency"
        and "Strategy" not in config["LayerName"]["dense_1"]
    )
    assert len(said) == 1 and said[0].startswith(
        "layer 'dense_2' built with the Latency strategy: distributed"
    )


def test_constant_bits_counts_the_grid_and_the_sign() -> None:
    assert hls.constant_bits(np.array([0.5, -0.25, 0.125])) == 4  # 4/8 needs 3 magnitude bits + sign
    assert hls.constant_bits(np.ones(5)) == 2
    assert hls.constant_bits(np.zeros(3)) == 0
    assert hls.constant_bits(np.array([0.1])) > 50  # a float constant has no short grid


def test_without_dsp_the_squares_go_to_luts_and_vitis_binds_multipliers_to_fabric(ae_case, tmp_path) -> None:
    """``firmware.use_dsp: false`` (the default): the estimate puts every product in LUTs, and the HLS
    project's build script binds Vitis' multipliers to fabric, also after compile() rewrote it."""
    model, X, _ = ae_case
    q = qmodels.to_qkeras(model, BITS)
    on_dsp = hls.convert(q, tmp_path / "dsp", dataclasses.replace(LATENCY, use_dsp=True), X[:500], "dsp")
    in_luts = hls.convert(q, tmp_path / "lut", LATENCY, X[:500], "lut")
    assert LATENCY.use_dsp is False
    est_dsp, est_lut = (resources.estimate(h, "xcvu9p-flga2104-2L-e", 5.0) for h in (on_dsp, in_luts))
    square_dsp, square_lut = est_dsp["layers"]["squared_residual"], est_lut["layers"]["squared_residual"]
    assert square_dsp["dsp"] == 57 and square_lut["dsp"] == 0
    assert square_lut["lut"] > square_dsp["lut"] + 57 * 100  # each 10+ bit square costs >100 LUTs
    assert est_lut["dsp"] == 0 < est_dsp["dsp"]
    csim.compile_and_predict(in_luts, X[:10])  # compile() writes the project again
    lines = (tmp_path / "lut" / "build_prj.tcl").read_text().splitlines()
    at = lines.index("config_op mul -impl fabric")
    assert lines[at - 1].startswith("create_clock")
    assert "config_op mul -impl fabric" not in (tmp_path / "dsp" / "build_prj.tcl").read_text()
