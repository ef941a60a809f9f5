"""``python -m tests.malformed``: N malformed variants per loader through the CLI, counted into
``benchmarks/malformed.json`` (see the package docstring for what "handled as specified" means)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.malformed.cases import LOADERS, NEEDS_TENSORFLOW, make_case
from tests.malformed.core import RandomChooser, build_baselines, run_case

ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------------------------
# The figures: N variants per loader outside pytest.
# ---------------------------------------------------------------------------------------------


@dataclass
class Tally:
    tried: int = 0
    handled_as_specified: int = 0
    mutations: dict[str, list[int]] = field(default_factory=dict)  # name -> [tried, handled]
    failures: list[dict[str, str]] = field(default_factory=list)


def measure(per_loader: int, seed: int, loaders: Sequence[str] | None = None) -> dict[str, Tally]:
    """Run ``per_loader`` variants of each loader (mutations in turn, choices seeded by ``seed``)."""
    names = list(loaders or LOADERS)
    results: dict[str, Tally] = {}
    with tempfile.TemporaryDirectory(prefix="l1ad-malformed-") as tmp:
        base = build_baselines(Path(tmp) / "baselines", byo=bool(NEEDS_TENSORFLOW & set(names)))
        for loader in names:
            tally = results.setdefault(loader, Tally())
            mutations = sorted(LOADERS[loader])
            for k in range(per_loader):
                mutation = mutations[k % len(mutations)]
                ch = RandomChooser(seed * 1_000_003 + k)
                with tempfile.TemporaryDirectory(dir=tmp) as work:
                    case = make_case(loader, mutation, ch, base, Path(work))
                    outcome = run_case(case)
                counts = tally.mutations.setdefault(mutation, [0, 0])
                counts[0] += 1
                tally.tried += 1
                if outcome.handled:
                    counts[1] += 1
                    tally.handled_as_specified += 1
                else:
                    tally.failures.append(
                        {
                            "mutation": mutation,
                            "variant": k,
                            "why": outcome.why,
                            "stderr": outcome.stderr[-600:],
                        }
                    )
            print(
                f"| {loader} | {tally.tried} | {tally.handled_as_specified} | {len(mutations)} |", flush=True
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.malformed",
        description="Feed malformed variants of every user-facing input to the l1ad CLI and count how many "
        "are refused as specified (exit 2, one line naming the file, no traceback, run directory "
        "untouched). Writes benchmarks/malformed.json.",
    )
    parser.add_argument(
        "--per-loader", type=int, default=40, help="variants per loader (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random choices (default: %(default)s)"
    )
    parser.add_argument("--loaders", nargs="*", choices=sorted(LOADERS), help="only these loaders")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "malformed.json"))
    args = parser.parse_args(argv)
    print("| loader | tried | handled as specified | mutation kinds |\n| --- | --- | --- | --- |")
    start = time.perf_counter()
    results = measure(args.per_loader, args.seed, args.loaders)
    command = "python -m tests.malformed " + " ".join(sys.argv[1:] if argv is None else argv)
    out = {
        "command": command.strip(),
        "seconds": round(time.perf_counter() - start, 1),
        "specification": "exit code 2, stderr exactly one line naming the malformed file and matching the "
        "mutation's problem pattern, no traceback, no new or changed file in the run directory",
        "loaders": {
            name: {
                "tried": t.tried,
                "handled_as_specified": t.handled_as_specified,
                "mutations": {
                    m: {"tried": c[0], "handled_as_specified": c[1]} for m, c in sorted(t.mutations.items())
                },
                "failures": t.failures,
            }
            for name, t in results.items()
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    total = sum(t.tried for t in results.values())
    handled = sum(t.handled_as_specified for t in results.values())
    print(f"{handled}/{total} malformed inputs handled as specified -> {args.out}")


if __name__ == "__main__":
    main()
