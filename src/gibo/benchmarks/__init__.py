"""The benchmark problems of GIBO's successors, and a suite that runs methods on them (docs/benchmarks.md).

- `problems`: each problem as an objective to maximise on its box (−Ackley, −Dixon-Price, LES's and MPD's GP
  samples, the rover trajectory, Lunar Lander); `rover` and `lunar_lander` hold the two simulated ones.
- `config`: the suite configs (`configs/benchmarks/*.yaml`), validated.
- `suite`: runs problem × D × method × seed cells through `gibo.maximize` (or Nevergrad's NGOpt), one npz file
  per cell, resumable, in parallel on Ray.
- `table`: a markdown table and a figure of best-so-far curves from a results folder.

Command line: `python -m gibo.benchmarks run -c CONFIG` and `python -m gibo.benchmarks table RESULTS`.
"""
