#!/usr/bin/env bash
# The steps of l1ad's CI templates (ci/github-actions.yml, ci/gitlab-ci.yml), kept in one place so both
# services run the same commands, and tests/test_ci_templates.py runs them too.
#
#   bash ci/ci.sh main               set up .venv (cached by the service), run the main job on $L1AD_CONFIG
#                                    into $L1AD_RUN_DIR; the gate at the end (exit 1 when it fails)
#   bash ci/ci.sh byo MODEL DATA ... set up, then `l1ad firmware --model MODEL --data DATA ...` (a user's model)
#   bash ci/ci.sh compare BASE       compare $L1AD_RUN_DIR with the baseline report BASE (the target branch's
#                                    report.json): $L1AD_RUN_DIR/compare.md and compare.json, exit 1 naming
#                                    each regression; without BASE (first run of a branch) it says so, exit 0
set -euo pipefail
cd "$(dirname "$0")/.."
config=${L1AD_CONFIG:-configs/default.yaml}
run_dir=${L1AD_RUN_DIR:-runs/ci}
export TF_CPP_MIN_LOG_LEVEL=2
step=${1:?usage: ci/ci.sh main | byo MODEL DATA [flags] | compare BASE}
shift
case "$step" in
    main)
        bash scripts/setup.sh
        .venv/bin/l1ad run --config "$config" --run-dir "$run_dir"
        ;;
    byo)
        bash scripts/setup.sh
        model=${1:?usage: ci/ci.sh byo MODEL DATA [flags]}
        data=${2:?usage: ci/ci.sh byo MODEL DATA [flags]}
        shift 2
        .venv/bin/l1ad firmware --config "$config" --run-dir "$run_dir" --model "$model" --data "$data" "$@"
        ;;
    compare)
        base=${1:-}
        if [ -z "$base" ] || [ ! -f "$base" ]; then
            echo "l1ad ci: no baseline report (${base:-none given}): nothing to compare this run with"
            exit 0
        fi
        .venv/bin/l1ad compare "$base" "$run_dir" --config "$config" \
            --markdown "$run_dir/compare.md" --json "$run_dir/compare.json"
        ;;
    *)
        echo "l1ad ci: unknown step '$step' (main, byo, compare)" >&2
        exit 2
        ;;
esac
