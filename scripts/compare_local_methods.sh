#!/usr/bin/env bash
# The local methods side by side (docs/method.md#beyond-the-paper-mpd-turbo-and-les): GIBO, MPD, LES and TuRBO-1
# with the fixed-hyperparameter set on dims 8 and 16 x 5 objectives, 200 calls each, then `python -m gibo.report`
# over the runs (figures with the paper's GIBO curve, verdicts where the paper has a number).
# Usage: bash scripts/compare_local_methods.sh [METHOD ...]   (default: gibo mpd les turbo)
# SWIMMER=1 also runs one Swimmer-v5 trial (500 calls) of each method that has a Swimmer config (GIBO, MPD, LES,
# TuRBO) and adds them to the report. Runs resume (finished units are kept) into $RESULTS_DIR/<method>
# (default experiments/local_methods); the report goes to $RESULTS_DIR/report. WORKERS units run at once
# (default: the number of cores; results do not depend on it). CALLS (default 200) and SWIMMER_CALLS (default 500)
# set the budgets. LES is the slow one: about 2 s per call at D = 8 and 4 s at D = 16 on one core of the
# development machine, so its 10 synthetic units take about 1.5 core-hours.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=configs/synthetic_experiment/generate_data_local_methods.yaml
WORKERS=${WORKERS:-$(nproc)}
RESULTS_DIR=${RESULTS_DIR:-experiments/local_methods}
CALLS=${CALLS:-200}
SWIMMER_CALLS=${SWIMMER_CALLS:-500}
METHODS=("$@")
[ ${#METHODS[@]} -gt 0 ] || METHODS=(gibo mpd les turbo)
python generate_data_synthetic_functions.py -c "$DATA"
RUNS=()
for method in "${METHODS[@]}"; do
  out=$RESULTS_DIR/$method
  python run_synthetic_experiment.py -c "configs/synthetic_experiment/${method}_fixed_hypers.yaml" -cd "$DATA" \
    --max-calls "$CALLS" --out-dir "$out" --resume --workers "$WORKERS"
  RUNS+=("$out")
  swimmer=configs/rl_experiment/swimmer/$method.yaml
  if [ "${SWIMMER:-0}" = 1 ] && [ -f "$swimmer" ]; then
    python run_rl_experiment.py -c "$swimmer" --trials 1 --max-calls "$SWIMMER_CALLS" --out-dir "$RESULTS_DIR/swimmer_$method" \
      --resume --workers 1
    RUNS+=("$RESULTS_DIR/swimmer_$method")
  fi
done
python -m gibo.report "${RUNS[@]}" --out "$RESULTS_DIR/report" --force
