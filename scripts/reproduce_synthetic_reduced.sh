#!/usr/bin/env bash
# Reduced reproduction of the synthetic study (docs/experiments.md#synthetic-functions): dims 8, 16, 32 x 10 objectives, 300 calls,
# fixed-hyperparameter set. Usage: bash scripts/reproduce_synthetic_reduced.sh [METHOD_CONFIG ...]
# (default: GIBO only). Prints the mean normalised error at 100/200/300 calls per dimension.
# WORKERS (default: the number of cores) objectives run at once on local Ray (results do not depend on it);
# RESULTS_DIR (default experiments/synthetic_reduced) holds one resumable run per method config.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=configs/synthetic_experiment/generate_data_reduced.yaml
WORKERS=${WORKERS:-$(nproc)}
RESULTS_DIR=${RESULTS_DIR:-experiments/synthetic_reduced}
CONFIGS=("$@")
[ ${#CONFIGS[@]} -gt 0 ] || CONFIGS=(configs/synthetic_experiment/gibo_fixed_hypers.yaml)
python generate_data_synthetic_functions.py -c "$DATA"
RUNS=()
for cfg in "${CONFIGS[@]}"; do
  name=$(basename "$cfg" .yaml)
  out=$RESULTS_DIR/$name
  python run_synthetic_experiment.py -c "$cfg" -cd "$DATA" --out-dir "$out" --resume --workers "$WORKERS"
  RUNS+=("$out")
done
python -m gibo.evaluate synthetic "${RUNS[@]}" --calls 100 200 300
