"""Tests of the resource and latency estimate: exact counts on hand-set weights, and its calibration on
the published hls4ml jet-tagger syntheses (REFERENCE.md), rebuilt with random weights.

Estimates come from the converted graph, so nothing here is compiled (each conversion takes < 2 s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware import resources, vendor
from l1ad.errors import InputError

PART, CLOCK = "xcvu9p-flga2104-2L-e", 5.0

# Published Vivado HLS syntheses (REFERENCE.md): 16-64-32-32-5 jet tagger, Latency strategy, RF 1, 200 MHz.
PUBLISHED = {
    "ap_fixed<16,6>": {"latency_cycles": 13, "dsp": 3915, "lut": 88_000},
    "qkeras6_pruned75": {"latency_cycles": 15, "dsp": 221, "lut": 90_000},
}
# Relative error the estimate reaches on each (|estimate / published - 1|), asserted below. The goal
# was 30% for DSP and latency; LUT is reported as reached (the 6-bit model's published LUT count is
# not explained by this model: it gives about a quarter of it).
TOLERANCE = {
    "ap_fixed<16,6>": {"latency_cycles": 0.10, "dsp": 0.10, "lut": 0.30},
    "qkeras6_pruned75": {"latency_cycles": 0.15, "dsp": 0.25, "lut": 0.80},
}


def _convert(model, qkeras: bool, io_type: str = "io_parallel", reuse_factor: int = 1, strategy="Latency"):
    """Vitis backend, xcvu9p, 5 ns; every automatic precision set to ap_fixed<16,6> as in the published
    designs (hls4ml's default precision then); quantizer types kept for QKeras layers."""
    import hls4ml

    config = hls4ml.utils.config_from_keras_model(
        model, granularity="name", backend="Vitis", default_precision="ap_fixed<16,6>"
    )
    config["Model"]["Strategy"] = strategy
    for layer_config in config["LayerName"].values():
        layer_config["ReuseFactor"] = reuse_factor
        for key, value in layer_config["Precision"].items():
            if value == "auto" or (not qkeras and key in ("weight", "bias", "result", "accum")):
                layer_config["Precision"][key] = "ap_fixed<16,6>"
    return hls4ml.converters.convert_from_keras_model(
        model,
        output_dir=None,
        backend="Vitis",
        hls_config=config,
        part=PART,
        clock_period=CLOCK,
        io_type=io_type,
    )


def jet_tagger_16bit():
    """16-64-32-32-5 with ReLU and softmax, random weights from Keras' default initialiser (seeded)."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x = inp = tf.keras.Input((16,), name="input_1")
    for i, n in enumerate([64, 32, 32]):
        x = tf.keras.layers.Dense(n, name=f"fc{i + 1}")(x)
        x = tf.keras.layers.Activation("relu", name=f"relu{i + 1}")(x)
    x = tf.keras.layers.Dense(5, name="output")(x)
    x = tf.keras.layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(inp, x)


def jet_tagger_qkeras6_pruned():
    """The same network in QKeras: quantized_bits(6,0) weights and biases, quantized_relu(6), random
    weights from QDense's default initialiser (seeded), then 75% of each kernel zeroed at random."""
    import tensorflow as tf
    from qkeras import QActivation, QDense

    tf.keras.utils.set_random_seed(0)
    q = "quantized_bits(6,0,alpha=1)"
    x = inp = tf.keras.Input((16,), name="input_1")
    for i, n in enumerate([64, 32, 32]):
        x = QDense(n, kernel_quantizer=q, bias_quantizer=q, name=f"fc{i + 1}")(x)
        x = QActivation("quantized_relu(6)", name=f"relu{i + 1}")(x)
    x = QDense(5, kernel_quantizer=q, bias_quantizer=q, name="output")(x)
    x = tf.keras.layers.Activation("softmax", name="softmax")(x)
    model = tf.keras.Model(inp, x)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, QDense):
            kernel, bias = layer.get_weights()
            layer.set_weights([np.where(rng.random(kernel.shape) < 0.75, 0.0, kernel), bias])
    return model


@pytest.fixture(scope="module")
def calibration_estimates():
    return {
        "ap_fixed<16,6>": resources.estimate(_convert(jet_tagger_16bit(), qkeras=False), PART, CLOCK),
        "qkeras6_pruned75": resources.estimate(
            _convert(jet_tagger_qkeras6_pruned(), qkeras=True), PART, CLOCK
        ),
    }


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_calibration_against_published_syntheses(calibration_estimates, name):
    est = calibration_estimates[name]
    assert est["source"] == "estimate"
    assert est["ii"] == 1
    errors = {key: est[key] / published - 1 for key, published in PUBLISHED[name].items()}
    print(name, {k: est[k] for k in PUBLISHED[name]}, {k: f"{v:+.0%}" for k, v in errors.items()})
    for key, error in errors.items():
        assert abs(error) <= TOLERANCE[name][key], f"{name} {key}: estimate off by {error:+.0%}"


def test_calibration_counts(calibration_estimates):
    dense = {"fc1": 16 * 64, "fc2": 64 * 32, "fc3": 32 * 32, "output": 32 * 5}
    full = calibration_estimates["ap_fixed<16,6>"]
    pruned = calibration_estimates["qkeras6_pruned75"]
    for name, n in dense.items():
        assert full["layers"][name]["multiplications"] == n
        assert pruned["layers"][name]["multiplications"] == n
        # random 75% pruning leaves about a quarter of the products (binomial spread)
        assert abs(pruned["layers"][name]["nonzero_multiplications"] - n / 4) < 4 * np.sqrt(n * 0.1875)
    # 6-bit x 6-bit products go to LUTs; the first layer's 16-bit input x 6-bit weight to DSPs
    assert pruned["layers"]["fc2"]["dsp"] == 0 and pruned["layers"]["fc2"]["fabric_multipliers"] > 0
    assert pruned["layers"]["fc1"]["dsp"] == pruned["layers"]["fc1"]["multipliers"] > 0
    assert (
        full["parameters"] == pruned["parameters"] == 16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5
    )
    assert (
        full["bops"]
        == 16
        * 16
        * sum(layer["nonzero_multiplications"] for name, layer in full["layers"].items() if name in dense)
        + 5 * 18 * 18
    )  # softmax: exp x inverse, 18-bit tables
    assert 0 < full["percent_of_part"]["dsp"] == pytest.approx(100 * full["dsp"] / 6840)


def _tiny_dense(kernel: np.ndarray, bias: np.ndarray):
    import tensorflow as tf

    inp = tf.keras.Input((kernel.shape[0],), name="x")
    dense = tf.keras.layers.Dense(kernel.shape[1], name="d")
    model = tf.keras.Model(inp, dense(inp))
    dense.set_weights([kernel, bias])
    return model


def test_zero_and_power_of_two_weights_remove_products():
    # ap_fixed<16,6>: LSB 2^-10. 0 and +-2^k are free; 0.75 and -0.375 need a multiplier; 1e-4
    # truncates to 0 in the type (AP_TRN floors toward -inf, so -1e-4 becomes -2^-10: a power of two).
    kernel = np.array([[0.0, 0.5, 0.75], [-0.25, -0.375, 1e-4], [2.0, -1e-4, 0.0]], dtype=np.float32)
    est = resources.estimate(
        _convert(_tiny_dense(kernel, np.zeros(3, np.float32)), qkeras=False), PART, CLOCK
    )
    layer = est["layers"]["d"]
    assert layer["multiplications"] == 9
    assert layer["nonzero_multiplications"] == 6  # 0, 0, 1e-4 removed
    assert layer["multipliers"] == 2  # 0.75 and -0.375; the rest are zeros or shifts
    assert layer["dsp"] == 2  # 16 + 16 operand bits: DSP48E2
    assert layer["bops"] == 6 * 16 * 16
    # effective widths: 0.75 = 3 x 2^-2 (2 bits), -0.375 = -3 x 2^-3 (2 bits), powers of two 1 bit each
    assert layer["ebops"] == (2 + 2 + 1 + 1 + 1 + 1) * 16
    # adders per output, terms - 1 (bias zero): columns hold 2, 3 and 1 terms -> 3 adders of 16 bits
    assert layer["lut"] == pytest.approx(3 * 16 * resources.LUT_PER_ADDER_BIT)


def test_reuse_factor_sets_ii_and_shares_multipliers():
    rng = np.random.default_rng(1)
    model = _tiny_dense(rng.normal(0, 0.5, (8, 4)).astype(np.float32), np.zeros(4, np.float32))
    est = resources.estimate(_convert(model, qkeras=False, reuse_factor=4, strategy="Resource"), PART, CLOCK)
    assert est["ii"] == 4
    assert est["layers"]["d"]["multipliers"] == 8  # 32 products over 4 cycles
    assert est["latency_cycles"] >= 4


def test_io_stream_conv_sets_ii_to_pixels():
    import tensorflow as tf

    tf.keras.utils.set_random_seed(2)
    inp = tf.keras.Input((6, 6, 1), name="img")
    x = tf.keras.layers.Conv2D(2, 3, name="conv")(inp)
    x = tf.keras.layers.Activation("relu", name="act")(x)
    x = tf.keras.layers.MaxPooling2D(2, name="pool")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(1, name="out")(x))
    est = resources.estimate(_convert(model, qkeras=False, io_type="io_stream"), PART, CLOCK)
    conv = est["layers"]["conv"]
    assert conv["multiplications"] == 3 * 3 * 1 * 2 * 4 * 4  # kernel x filters x output pixels
    assert conv["multipliers"] <= 3 * 3 * 2  # one kernel instance, fed a pixel per beat
    assert est["ii"] >= 36  # the 6x6 image enters one pixel per cycle
    assert est["latency_cycles"] >= 36


def test_part_capacity_and_unknown_part():
    model = _tiny_dense(np.full((4, 2), 0.3, np.float32), np.zeros(2, np.float32))
    hls_model = _convert(model, qkeras=False)
    small = resources.estimate(hls_model, "xc7z020-clg400-1", CLOCK)
    assert small["part_capacity"]["dsp"] == 220
    assert small["percent_of_part"]["dsp"] == pytest.approx(100 * small["dsp"] / 220)
    unknown = resources.estimate(hls_model, "xcfoo-1", CLOCK)
    assert unknown["percent_of_part"] is None
    assert any("xcfoo-1" in note for note in unknown["notes"])
    slower = resources.estimate(hls_model, PART, 10.0)
    assert slower["latency_cycles"] <= small["latency_cycles"]
    assert slower["latency_ns"] == pytest.approx(10.0 * slower["latency_cycles"])
    with pytest.raises(ValueError, match="clock period"):
        resources.estimate(hls_model, PART, 0.0)


# ---- vendor synthesis reports: format fixtures, NOT results of a real synthesis ----

# The layout and tags of a Vivado/Vitis HLS C-synthesis report (<project>_csynth.xml) and of a Vivado
# utilization report, as hls4ml's readers parse them; every number below is invented for the test.
CSYNTH_XML = """<profile>
<ReportVersion>
<Version>2023.2</Version>
</ReportVersion>
<UserAssignments>
<unit>ns</unit>
<ProductFamily>virtexuplus</ProductFamily>
<Part>xcvu9p-flga2104-2L-e</Part>
<TopModelName>{top}</TopModelName>
<TargetClockPeriod>5.00</TargetClockPeriod>
<ClockUncertainty>1.35</ClockUncertainty>
</UserAssignments>
<PerformanceEstimates>
<PipelineType>yes</PipelineType>
<SummaryOfTimingAnalysis>
<unit>ns</unit>
<EstimatedClockPeriod>3.650</EstimatedClockPeriod>
</SummaryOfTimingAnalysis>
<SummaryOfOverallLatency>
<unit>clock cycles</unit>
<Best-caseLatency>7</Best-caseLatency>
<Average-caseLatency>7</Average-caseLatency>
<Worst-caseLatency>9</Worst-caseLatency>
<Best-caseRealTimeLatency>35.000 ns</Best-caseRealTimeLatency>
<Average-caseRealTimeLatency>35.000 ns</Average-caseRealTimeLatency>
<Worst-caseRealTimeLatency>45.000 ns</Worst-caseRealTimeLatency>
<Interval-min>1</Interval-min>
<Interval-max>1</Interval-max>
</SummaryOfOverallLatency>
</PerformanceEstimates>
<AreaEstimates>
<Resources>
<BRAM_18K>2</BRAM_18K>
<DSP>12</DSP>
<FF>3456</FF>
<LUT>7890</LUT>
<URAM>0</URAM>
</Resources>
<AvailableResources>
<BRAM_18K>4320</BRAM_18K>
<DSP>6840</DSP>
<FF>2364480</FF>
<LUT>1182240</LUT>
<URAM>960</URAM>
</AvailableResources>
</AreaEstimates>
</profile>
"""

HLS_APP = """<project xmlns="com.autoesl.autopilot.project" name="{top}_prj" top="{top}">
    <files>
        <file name="firmware/{top}.cpp" sc="0" tb="false" cflags="-std=c++0x"/>
    </files>
    <solutions xmlns="">
        <solution name="solution1" status="active"/>
    </solutions>
</project>
"""

VIVADO_UTILIZATION = """| Design State : Synthesized
1. CLB Logic
------------

+-------------------------+-------+-------+-----------+-------+
|        Site Type        |  Used | Fixed | Available | Util% |
+-------------------------+-------+-------+-----------+-------+
| CLB LUTs*               |  5432 |     0 |   1182240 |  0.46 |
| CLB Registers           |  2345 |     0 |   2364480 |  0.10 |
+-------------------------+-------+-------+-----------+-------+

2. BLOCKRAM
-----------

+-------------------+------+-------+-----------+-------+
|     Site Type     | Used | Fixed | Available | Util% |
+-------------------+------+-------+-----------+-------+
| Block RAM Tile    |  1.5 |     0 |      2160 |  0.07 |
+-------------------+------+-------+-----------+-------+

3. ARITHMETIC
-------------

+-----------+------+-------+-----------+-------+
| Site Type | Used | Fixed | Available | Util% |
+-----------+------+-------+-----------+-------+
| DSPs      |   10 |     0 |      6840 |  0.15 |
+-----------+------+-------+-----------+-------+
"""


def _write_reports(root: Path, top: str, logic_synthesis: bool) -> None:
    prj = root / f"{top}_prj"
    report = prj / "solution1" / "syn" / "report"
    report.mkdir(parents=True, exist_ok=True)
    (prj / "hls.app").write_text(HLS_APP.format(top=top))
    (report / f"{top}_csynth.xml").write_text(CSYNTH_XML.format(top=top))
    if logic_synthesis:
        (root / "vivado_synth.rpt").write_text(VIVADO_UTILIZATION)


def test_read_synthesis_report_format_fixture(tmp_path):
    (tmp_path / "project.tcl").write_text(
        'variable project_name\nset project_name "l1ad_ae"\nset backend "vitis"\n'
    )
    _write_reports(tmp_path, "l1ad_ae", logic_synthesis=False)
    rep = vendor.read_synthesis_report(tmp_path)
    assert rep["source"] == "synthesized" and rep["stage"] == "c_synthesis"
    assert (rep["latency_cycles"], rep["latency_best_cycles"], rep["ii"]) == (9, 7, 1)
    assert rep["latency_ns"] == pytest.approx(45.0)
    assert (rep["dsp"], rep["lut"], rep["ff"], rep["bram"]) == (12, 7890, 3456, 2)
    assert rep["percent_of_part"]["dsp"] == pytest.approx(100 * 12 / 6840)
    assert rep["estimated_clock_period_ns"] == pytest.approx(3.65)

    (tmp_path / "vivado_synth.rpt").write_text(VIVADO_UTILIZATION)
    logic = vendor.read_synthesis_report(tmp_path)
    assert logic["stage"] == "logic_synthesis"
    assert (logic["dsp"], logic["lut"], logic["ff"], logic["bram"]) == (
        10,
        5432,
        2345,
        3,
    )  # 1.5 tiles = 3 x 18 Kb
    assert logic["c_synthesis"]["LUT"] == "7890"

    with pytest.raises(InputError, match="no C-synthesis report"):
        (tmp_path / "l1ad_ae_prj" / "solution1" / "syn" / "report" / "l1ad_ae_csynth.xml").unlink()
        vendor.read_synthesis_report(tmp_path)
    with pytest.raises(InputError, match="not an hls4ml project"):
        vendor.read_synthesis_report(tmp_path / "nowhere")


def _written_project(path: Path):
    model = _tiny_dense(np.array([[0.75, -0.5], [0.3, 1.25]], np.float32), np.zeros(2, np.float32))
    hls_model = _convert(model, qkeras=False)
    hls_model.config.config["OutputDir"] = str(path)
    hls_model.write()
    return hls_model


def test_no_vendor_tool_falls_back_to_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert vendor.vendor_tool_available("Vitis") is None
    assert vendor.vendor_tool_available("Vivado") is None
    hls_model = _convert(_tiny_dense(np.full((3, 2), 0.3, np.float32), np.zeros(2, np.float32)), qkeras=False)
    lines: list[str] = []
    rep = vendor.resources_report(hls_model, PART, CLOCK, synth=True, log=lines.append)
    assert rep["source"] == "estimate"
    assert len(lines) == 1 and "vitis-run is not on PATH" in lines[0] and "estimates" in lines[0]
    assert rep["note"] == lines[0]
    with pytest.raises(RuntimeError, match="not on PATH"):
        vendor.synthesize(hls_model)
    with pytest.raises(ValueError, match="no vendor synthesis"):
        vendor.vendor_tool_available("oneAPI")


def test_synthesize_through_hls4ml_build_with_a_stand_in_tool(tmp_path, monkeypatch):
    """A stand-in `vitis-run` (a shell script, not Vitis) drops the fixture reports where Vitis would."""
    template = tmp_path / "template"
    _write_reports(template, "myproject", logic_synthesis=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "vitis-run"
    tool.write_text(f'#!/bin/sh\ncp -R "{template}"/. .\necho "stand-in for vitis-run $*" > stand_in.log\n')
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    assert vendor.vendor_tool_available("Vitis") == str(tool)

    hls_model = _written_project(tmp_path / "prj")
    rep = vendor.resources_report(hls_model, PART, CLOCK, synth=True, log=pytest.fail)
    assert rep["source"] == "synthesized" and rep["stage"] == "logic_synthesis"
    assert (rep["latency_cycles"], rep["dsp"], rep["lut"]) == (9, 10, 5432)
    assert "--tcl build_prj.tcl --mode hls" in (tmp_path / "prj" / "stand_in.log").read_text()
    assert "csim       0" in (tmp_path / "prj" / "build_opt.tcl").read_text()  # C synthesis only
    assert rep["parameters"] == 6 and rep["estimate"]["source"] == "estimate"
