#!/usr/bin/env bash
# Reduced comparison of the synthetic study (docs/experiments.md#synthetic-functions): GIBO, ARS, vanilla BO and CMA-ES with the
# fixed-hyperparameter set on dims 8, 16, 32 x 10 objectives, 300 calls each; then both figures.
# Usage: bash scripts/reproduce_synthetic_comparison.sh [METHOD ...]   (default: gibo rs vbo cmaes; also mpd, turbo, les)
# Runs resume (finished objectives are kept) into $RESULTS_DIR/<method>_fixed_hypers (default
# experiments/synthetic_reduced); figures and the mean-error table go to $RESULTS_DIR/figures (FIGURE_DIR
# overrides). WORKERS objectives run at once (default: the number of cores).
set -euo pipefail
cd "$(dirname "$0")/.."
METHODS=("$@")
[ ${#METHODS[@]} -gt 0 ] || METHODS=(gibo rs vbo cmaes)
export RESULTS_DIR=${RESULTS_DIR:-experiments/synthetic_reduced}
FIGURE_DIR=${FIGURE_DIR:-$RESULTS_DIR/figures}
declare -A LABEL=([gibo]=GIBO [rs]=ARS [vbo]="vanilla BO" [cmaes]=CMA-ES [mpd]=MPD [turbo]=TuRBO [les]=LES)
CONFIGS=()
RUNS=()
for method in "${METHODS[@]}"; do
  CONFIGS+=("configs/synthetic_experiment/${method}_fixed_hypers.yaml")
  RUNS+=("${LABEL[$method]:-$method}=$RESULTS_DIR/${method}_fixed_hypers")
done
bash scripts/reproduce_synthetic_reduced.sh "${CONFIGS[@]}"
python -m gibo.evaluate synthetic-figures --runs "${RUNS[@]}" --out "$FIGURE_DIR" --calls 100 200 300
