"""The ``l1ad`` command line: a thin layer over ``l1ad.api``.

Expected failures (bad files, bad config, a failed gate) print one line and exit
non-zero (2 for bad input, 1 for a failed gate); bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from l1ad.artifacts import RunPaths
from l1ad.config import DEPLOYED_MODELS, STUDY_FAMILIES
from l1ad.errors import L1adError

DESCRIPTION = """\
l1ad turns anomaly-detection models into bit-accurate FPGA firmware for the LHC
Level-1 trigger: float training -> QKeras quantization-aware retraining -> hls4ml
HLS projects checked by C simulation -> a report and a CI gate.

Stages talk through files in a run directory (default runs/default):
  data      generate (or read) the data families, write model-ready splits
  train     float scorers on background only (OCDN on dijet features, L1 autoencoder,
            NuRD CNN on jet images)
  quantize  QKeras QAT from the float weights
  firmware  hls4ml HLS projects, g++ C simulation, csim-vs-QKeras validation
  report    report.md, report.json (the CI contract) and plots
  check     the CI gate: quantized AUC vs float, csim vs QKeras
  study     one full-precision study into RUN_DIR/studies/NAME:
              oneclass    OC-SVM, Deep SVDD, bottleneck AE, OCDN on dijet features
              gaussian    the 1-D Gaussian toy of the OCDN study
              anomalyclr  contrastive transformer + AE on L1 objects
              nae         normalized autoencoder on L1 objects
              mpdr        manifold projection-diffusion recovery on L1 objects
              nurd        NuRD lambda comparison and conv AE on jet images
  run       the main job: data -> train -> quantize -> firmware -> report -> check
  studies   the studies of run.studies side by side on Dask (resumable), then the report
  scan      design-space scan (model x bits x reuse factor x strategy) on Dask: QAT,
            hls4ml, csim and resources per point; table, Pareto and bit-width plots in
            RUN_DIR/scan (the one bit-width scan), then the report
  csim      score a large HDF5 event file with a model's C simulation, in chunks on Dask

A stage runs the upstream stages it needs and skips the ones already done for the
same config (resume); --force redoes it. The console shows one line per step and
progress bars; each stage's whole output (epochs, warnings, compilers) is in
RUN_DIR/logs/<stage>.log.

examples:
  l1ad run                                   # the embedded default: synthetic data, all stages
  l1ad run --config configs/paper.yaml --run-dir runs/paper
  l1ad firmware --run-dir runs/default       # after changing the firmware section
  l1ad studies                               # the six studies, results in runs/default/studies/NAME
  l1ad study oneclass                        # one study, results in runs/default/studies/oneclass
  l1ad firmware --model my_qkeras.h5 --data inputs.npy   # bring your own model
  l1ad check --run-dir runs/default && echo gate passed
  l1ad scan                                  # the scan section's grid on a LocalCluster (one worker per core)
  l1ad csim --model ae --input background.h5 --output ae_scores.h5   # ADC2021 file, sharded csim
"""

SHORT_HELP = {
    "data": "generate or read the data families, write splits",
    "train": "train the float scorers on background",
    "quantize": "QKeras quantization-aware retraining from the float weights",
    "firmware": "hls4ml projects, C simulation, csim validation",
    "report": "write report.md, report.json and plots",
    "check": "the CI gate on report.json (--baseline: and against a baseline run)",
    "compare": "a run against its baseline: per model and signal, a Markdown table and JSON",
    "study": "one full-precision study (oneclass, gaussian, anomalyclr, nae, mpdr, nurd)",
    "run": "the main job: data -> train -> quantize -> firmware -> report -> check",
    "studies": "the full-precision studies of run.studies, side by side on Dask",
    "scan": "design-space scan on Dask, Pareto plots",
    "csim": "sharded C simulation of a large HDF5 file on Dask",
}

STAGE_HELP = {
    "data": "Generate the synthetic families in their real file layouts (or read real files named in "
    "the config) and write model-ready splits and the preprocessing JSON to RUN_DIR/data.",
    "train": "Train the deployable float scorers on background only, run.n_seeds seeds each; "
    "checkpoints and test-set scores go to RUN_DIR/train.",
    "quantize": "Rebuild each deployable graph in QKeras from the float weights, retrain "
    "(quantization-aware), and scan weight/activation bit widths; outputs in RUN_DIR/quantize.",
    "firmware": "Convert each QKeras graph with hls4ml (deliberate, profiled precisions), write the "
    "complete HLS project, compile the C simulation with g++, score the full test set and "
    "validate it against QKeras; outputs in RUN_DIR/firmware.",
    "report": "Read every stage's artifacts and write RUN_DIR/report/report.md, report.json and plots.",
    "check": "Read RUN_DIR/report/report.json and fail (exit 1), naming the model and the figure, when "
    "the quantized AUC drops more than check.auc_drop_tolerance below float, the C simulation "
    "disagrees with QKeras beyond check.* tolerances, or a model exceeds the L1 budget of firmware.budget "
    "(latency, II, LUT/DSP/FF/BRAM as fractions of the part; recomputed with this --config, no rebuild; a run built for another part or clock than this --config names fails, saying so). "
    "--baseline RUN (a run directory or report.json) also fails on each regression against it (see compare).",
    "compare": "Compare the run NEW with its baseline BASE (run directories or report.json files), per model and "
    "signal: AUC float/QKeras/csim, efficiency at the trigger rate (float and firmware), thresholds, latency, "
    "II, LUT, DSP, FF, BRAM, RTL == csim. Regressions: an AUC down by more than check.baseline_auc_drop; an "
    "efficiency whose 68% interval falls below the baseline's; latency, II or a resource up by more than "
    "check.baseline_resource_increase (relative); the RTL no longer equal to csim; a missing model. Prints the "
    "Markdown table (--markdown FILE, --json FILE also write it) and exits 1 naming each regression.",
    "study": "Run one full-precision study into RUN_DIR/studies/NAME (it runs the data stage first if "
    "needed); the report includes every study present in the run directory.",
    "run": "The main job: data -> train -> quantize -> firmware (every deployed scorer: distributed arithmetic, "
    "C simulation, RTL, trigger thresholds) -> report -> check. Stages up to date for this config are skipped. "
    "--with-studies also runs the studies of run.studies beside the chain (as `l1ad studies` does).",
    "studies": "Run the full-precision studies of run.studies (or --only NAME,...) as Dask tasks side by side "
    "(cluster section; output in RUN_DIR/logs/; cluster.parallel_studies: false runs them one after another), "
    "each into RUN_DIR/studies/NAME; finished studies are skipped, so an interrupted run resumes. The report is "
    "rebuilt with a section per study.",
    "scan": "Run every point of the scan section (models x bits x reuse_factors x strategies, or scan.points) "
    "as a Dask task: QAT from the run's float weights, hls4ml conversion into the point's own folder, g++ "
    "C simulation of the test set checked against QKeras, resource estimate (vendor synthesis with "
    "scan.synth where installed). Runs on a LocalCluster (cluster.workers, default one per core) or on "
    "the scheduler at cluster.scheduler. Finished points are skipped on rerun; a failed point is recorded "
    "with its error and retried next time. Writes RUN_DIR/scan/scan.md, scan.json and Pareto plots; the "
    "report includes them.",
    "csim": "Score every event of an HDF5 file with the C simulation of one of the run's firmware models "
    "(after `l1ad firmware`): chunks run on Dask workers (cluster section), each worker loads the "
    "compiled library once and reads only its rows. Output: HDF5 with 'score' and 'event_index' in input "
    "order. An interrupted job resumes from its finished chunks. Input: an ADC2021 file (Particles) for "
    "the ae model, or a dataset of model-ready inputs (--key) for any model.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="l1ad", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in STAGE_HELP.items():
        p = sub.add_parser(name, help=SHORT_HELP[name], description=text)
        if name == "study":
            p.add_argument(
                "name",
                choices=list(STUDY_FAMILIES),
                help="which study",
            )
        if name == "compare":
            p.add_argument("base", help="the baseline: a run directory or its report.json")
            p.add_argument("new", help="the run to judge: a run directory or its report.json")
            p.add_argument("--markdown", metavar="FILE", help="also write the Markdown table here")
            p.add_argument("--json", metavar="FILE", help="also write the rows and regressions here as JSON")
        p.add_argument("--config", default="configs/default.yaml", help="YAML config (default: %(default)s)")
        if name == "compare":
            continue
        p.add_argument("--run-dir", default="runs/default", help="run directory (default: %(default)s)")
        if name == "check":
            p.add_argument(
                "--baseline",
                metavar="RUN",
                help="also compare with this baseline run (directory or report.json), failing on regressions",
            )
        if name not in ("check", "scan", "csim"):
            p.add_argument("--force", action="store_true", help="redo the stage even if it is up to date")
        if name == "run":
            p.add_argument(
                "--with-studies",
                action="store_true",
                help="also run the studies of run.studies beside the chain (see `l1ad studies`)",
            )
        if name == "studies":
            p.add_argument(
                "--only",
                type=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
                metavar="NAME[,NAME]",
                help=f"these studies instead of run.studies ({', '.join(STUDY_FAMILIES)})",
            )
        if name in ("run", "data", "train", "quantize", "firmware", "report", "check"):
            p.add_argument(
                "--models",
                type=lambda text: tuple(m.strip() for m in text.split(",") if m.strip()),
                metavar="M[,M]",
                help="deployed models to build, instead of run.models: ocdn (dijet features), ae (L1 objects), "
                "nurd (jet images); only their data families are prepared and only the studies on those run",
            )
        if name == "csim":
            p.add_argument(
                "--model", required=True, choices=list(DEPLOYED_MODELS), help="which firmware model"
            )
            p.add_argument("--input", required=True, metavar="H5", help="HDF5 event file to score")
            p.add_argument(
                "--output", required=True, metavar="H5", help="HDF5 file to write (score, event_index)"
            )
            p.add_argument(
                "--key", metavar="NAME", help="dataset of model-ready inputs (default: Particles for ae)"
            )
            p.add_argument(
                "--chunk-events", type=int, default=100_000, help="events per task (default: %(default)s)"
            )
            p.add_argument(
                "--in-process", action="store_true", help="score in a plain loop here instead of on Dask"
            )
        if name == "firmware":
            p.add_argument(
                "--synth",
                action="store_true",
                help="also run vendor C synthesis (vitis-run for Vitis, vivado_hls for Vivado) where installed; "
                "without the tool, resources are estimated from the converted model",
            )
            byo = p.add_argument_group(
                "bring your own model",
                "convert a QKeras or Keras-2 model trained elsewhere instead of the run's models; results in "
                "RUN_DIR/byo/<model name>. Models with Lambda layers or custom objects are refused (loading them "
                "runs code).",
            )
            byo.add_argument("--model", metavar="PATH", help="model file: .h5, or .json with --weights")
            byo.add_argument("--weights", metavar="H5", help="weights file for a .json model")
            byo.add_argument("--data", metavar="FILE", help="inputs to validate csim on: .npy or HDF5")
            byo.add_argument("--data-key", metavar="KEY", help="dataset name inside an HDF5 --data file")
            byo.add_argument(
                "--labels",
                metavar="FILE",
                help="class labels of the --data events (.npy or HDF5; integers, or one-hot rows): each output "
                "gets the AUC of the reference model and of csim (a classifier: each class against the rest)",
            )
            byo.add_argument("--labels-key", metavar="KEY", help="dataset name inside an HDF5 --labels file")
            byo.add_argument(
                "--input-range",
                nargs=2,
                type=float,
                metavar=("LO", "HI"),
                help="validate on inputs drawn in [LO, HI]",
            )
            byo.add_argument(
                "--hls-config", metavar="YAML", help="hls4ml-style per-layer config to apply on top"
            )
            byo.add_argument(
                "--input-format",
                metavar="TYPE",
                help="the trigger's input type, e.g. 'ap_fixed<16,6>', for a model without an input quantizer "
                "(default: l1ad profiles a 16-bit type from the inputs and says which)",
            )
            byo.add_argument(
                "--logits",
                action="store_true",
                help="drop softmax/sigmoid/tanh output activations (hls4ml evaluates them with lookup tables); "
                "the logits are exact in fixed point and select the same events as a sigmoid",
            )
            byo.add_argument(
                "--score",
                choices=["residual", "latent"],
                help="compose an on-chip anomaly score: residual = sum of (input - output)^2 of an autoencoder; "
                "latent = sum of squares of the latent layer (the CMS AXOL1TL style)",
            )
            byo.add_argument(
                "--latent-layer",
                metavar="NAME",
                help="with --score latent: the layer (default: the first output)",
            )
            byo.add_argument(
                "--rtl",
                action="store_true",
                help="also trace the model to Verilog (da4ml), simulate it with Verilator against csim on every "
                "event and synthesize it per firmware.rtl (one scalar output through the quantizers' types)",
            )
            byo.add_argument(
                "--strategy",
                help="hls4ml strategy instead of firmware.strategy: distributed_arithmetic, Latency or Resource",
            )
            byo.add_argument(
                "--weight-bits",
                type=int,
                default=None,
                metavar="N",
                help="post-training quantization of a float model's Dense/Conv layers (batch norms folded in): "
                "weights and biases rounded to N-bit fixed point (default 8; 0 keeps the float values); "
                "QKeras layers keep their own quantizers",
            )
            byo.add_argument(
                "--frac-bits",
                type=int,
                default=None,
                metavar="N",
                help="fractional bits of every activation, sum and constant l1ad types itself (models not fully "
                "typed by quantizers: float models, lookup-table outputs); integer bits come from the range "
                "reached on the validation inputs plus firmware.headroom_bits (default 16)",
            )
            byo.add_argument(
                "--io-type",
                choices=["io_parallel", "io_stream"],
                help="hls4ml I/O type instead of firmware.io_type (io_stream: a CNN's pixels one per clock)",
            )
    return parser


def _print_byo(model: str, row: dict, out: Path) -> list[str]:
    """One line per output of a bring-your-own validation; the outputs that should be exact and are not."""
    print(
        f"[byo] {model}: input {row['input_format']} ({row['input_format_source']}); types from {row['precision_route']}"
    )
    failures = []
    for o in row["outputs"]:
        line = (
            f"[byo]   output '{o['name']}' ({o['format']}): csim equals {o['reference']} on {o['exact_fraction']:.4%}, "
            f"within 1 LSB on {o['within_1lsb_fraction']:.4%} of {o['n_events']} events, max {o['max_diff_lsb']:g} LSB"
        )
        if not o["exact_expected"]:
            line += f" (exactness not asserted: {o['why_not_exact']})"
        elif o["exact_fraction"] < 1.0:
            failures.append(f"output '{o['name']}' should equal QKeras bit for bit")
        print(line)
        if o["exact_fraction"] < 1.0:
            argmax = o.get("argmax_agreement")
            print(
                f"[byo]     |csim - reference|: max {o['max_abs_diff']:.4g}, 99.9% {o['p999_abs_diff']:.4g}"
                + ("" if argmax is None else f"; same argmax on {argmax:.2%} of events")
            )
        if o.get("auc"):
            auc = o["auc"]
            pairs = ", ".join(
                f"{c}: {r:.4f} / {q:.4f}"
                for c, r, q in zip(auc["classes"], auc["reference"], auc["csim"], strict=True)
            )
            print(f"[byo]     AUC reference / csim, class against the rest: {pairs}")
    for note in row["notes"]:
        print(f"[byo]   note: {note}")
    rtl = row.get("rtl")
    if rtl and "skipped" in rtl:
        print(f"[byo]   RTL not built: {rtl['skipped']}")
    elif rtl:
        print(
            f"[byo]   RTL (Verilator) == csim on {rtl['exact_fraction']:.4%} of {rtl['events']} events, "
            f"{rtl['latency_cycles']} cycles; {rtl['source']}"
        )
        if rtl["exact_fraction"] < 1.0:
            failures.append("the RTL should equal csim on every event")
    ptq = row.get("post_training_quantization")
    if ptq and ptq.get("scan"):
        print(
            "[byo]   --weight-bits scan (weights rounded, activations float, in Keras; LUT: "
            f"{ptq['scan'][0]['resource_source']} of the hls4ml project):"
        )
        print("[byo]     bits  max|diff|  argmax   AUC     LUT      DSP")
        for r in ptq["scan"]:
            argmax = "-" if r["argmax_agreement"] is None else f"{r['argmax_agreement']:.2%}"
            auc = "-" if r["auc"] is None else f"{r['auc']:.4f}"
            mark = "  <- deployed" if r["weight_bits"] == ptq["weight_bits"] else ""
            print(
                f"[byo]     {r['weight_bits']:>4}  {r['max_abs_diff']:<9.3g}  {argmax:<7}  {auc:<6}  "
                f"{r['lut']:<7.0f}  {r['dsp']}{mark}"
            )
    res = row["resources"]
    print(
        f"[byo] {res['latency_ns']:g} ns, II {res['ii']} cycles, {res['lut']:.0f} LUT, {res['dsp']} DSP ({res['source']}); "
        f"HLS project {out / row['hls_project']}"
    )
    for failure in failures:
        print(f"l1ad firmware: error: {failure}", file=sys.stderr)
    return failures


def _terminate(signum: int, frame: object) -> None:
    # A batch system's kill (SIGTERM) unwinds like Ctrl-C, so temporary stage folders are removed.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2":
        # At l1ad's default level TF 2.14 still logs three harmless "Unable to register cuDNN/cuFFT/cuBLAS
        # factory" errors when imported; on the command line an error is one line, so TF's C++ log is
        # silenced too (its Python exceptions are not). Any other level the user set is kept.
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from l1ad.io import quiet_known_warnings  # numpy with it: not needed for --help

    quiet_known_warnings()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        from l1ad import api

        function = getattr(api, args.command)
        if args.command == "check":
            failures = function(args.config, args.run_dir, models=args.models, baseline=args.baseline)
        elif args.command == "compare":
            result = function(args.base, args.new, args.config, markdown=args.markdown, json_file=args.json)
            print(result["markdown"], end="")
            failures = result["regressions"]
            for phrase in failures:
                print(f"l1ad compare: regression: {phrase}", file=sys.stderr)
        elif args.command == "study":
            function(args.name, args.config, args.run_dir, force=args.force)
            failures = []
        elif args.command == "studies":
            function(args.config, args.run_dir, force=args.force, names=args.only)
            failures = []
        elif args.command == "run":
            failures = function(
                args.config,
                args.run_dir,
                force=args.force,
                models=args.models,
                with_studies=args.with_studies,
            )
        elif args.command == "firmware" and args.model:
            row = api.byo(
                args.model,
                args.config,
                args.run_dir,
                weights=args.weights,
                data=args.data,
                data_key=args.data_key,
                labels=args.labels,
                labels_key=args.labels_key,
                input_range=tuple(args.input_range) if args.input_range else None,
                hls_config=args.hls_config,
                input_format=args.input_format,
                logits=args.logits,
                score=args.score,
                latent_layer=args.latent_layer,
                strategy=args.strategy,
                rtl=args.rtl,
                weight_bits=args.weight_bits,
                frac_bits=args.frac_bits,
                io_type=args.io_type,
            )
            failures = _print_byo(args.model, row, RunPaths(args.run_dir).byo(Path(args.model).stem).root)
        elif args.command == "firmware":
            function(args.config, args.run_dir, force=args.force, synth=args.synth, models=args.models)
            failures = []
        elif args.command == "scan":
            function(args.config, args.run_dir)
            failures = []
        elif args.command == "csim":
            s = function(
                args.model,
                args.input,
                args.output,
                args.config,
                args.run_dir,
                key=args.key,
                chunk_events=args.chunk_events,
                in_process=args.in_process,
            )
            print(
                f"[csim] {s['n_events']} events of {args.input} scored by {args.model} "
                f"({s['events_per_second']:.0f} events/s, {s['workers'] or 'no'} Dask workers) -> {args.output}"
            )
            failures = []
        else:
            function(args.config, args.run_dir, force=args.force, models=args.models)
            failures = []
        if args.command in ("check", "run") and not failures:
            print("[check] passed")
    except L1adError as exc:
        message = " ".join(str(exc).splitlines())  # one line, whatever a library put into the message
        print(f"l1ad {args.command}: error: {message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"l1ad {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 1 if failures else 0  # check and run raise GateError instead; byo lists outputs that are not exact


if __name__ == "__main__":
    sys.exit(main())
