"""The options `maximize` and `AskTell` use unless told otherwise, for an objective of unknown scale."""

from __future__ import annotations

import copy

from gibo.config import ConfigError

# The API's method names → the config's (`ars` is the config's `rs`).
METHODS = {"gibo": "gibo", "mpd": "mpd", "les": "les", "turbo": "turbo", "ars": "rs", "vbo": "vbo", "cmaes": "cmaes"}
# Methods whose `result.x` is their last iterate θ_T; the others report the best evaluated point.
LOCAL_METHODS = ("gibo", "mpd", "ars")
# Methods that search a box and therefore need `bounds`.
BOX_METHODS = ("turbo", "vbo")


def _gamma(mean: float, concentration: float) -> dict:
    """A gamma hyperprior with this mean, in the config's vocabulary."""
    return {"prior": "gamma", "kwargs": {"concentration": concentration, "rate": concentration / mean}}


def _interval(low: float, high: float) -> dict:
    return {"constraint": "interval", "kwargs": {"lower_bound": low, "upper_bound": high}}


def default_options(method: str, D: int, bounded: bool) -> dict:
    """The options `maximize` and `AskTell` use unless told otherwise: `optimizer_config` of `method` in unit
    coordinates (lengths in units of the box's sides, or of `scale`) for a D-dimensional problem.

    GIBO and MPD: GP hyperparameters learned at every iteration from D + 1 points on (not only once the
    window of N_max = 5D points is full, as in the paper's learned set, which knew its objectives' scale from
    its priors), on standardised values, under priors in unit coordinates: lengthscales around 0.5 (gamma,
    interval [0.01, 10]), outputscale around 1 and noise variance around 0.05 of the window's variance;
    the δ-box of half-width 0.1 (a tenth of the box's side) and θ kept inside the bounds. GIBO: ⌈D/2⌉
    samples per iteration and a normalised gradient step of 0.25 lengthscales; MPD: D samples and its walk
    (steps of 0.01) at most 100 steps long, one side of the box. CMA-ES: σ0 = 0.2 (pycma's advice: the optimum
    within x0 ± 3σ0), bounds handed to pycma. ARS: step 0.02, exploration noise 0.02, 1 + D // 8 directions,
    scaled by the rewards' std. Vanilla BO: as GIBO's model without the window; TuRBO: its own defaults (it
    standardises and fits on its own). LES: GIBO's model, its incumbent the best observation, its ascents and
    acquisition in the δ-box of half-width 0.1 around it (within the bounds); its own settings the paper's
    (250 paths of 500 steps: most of a second per call at D = 16, so for objectives that take longer than that).
    """
    gp_model = {
        "prior_mean": 0.0,
        "train_prior_mean": True,
        "standardize_outputs": True,
        "lengthscale_hyperprior": _gamma(0.5, 3.0),
        "lengthscale_constraint": _interval(0.01, 10.0),
        "outputscale_hyperprior": _gamma(1.0, 2.0),
        "outputscale_constraint": {"constraint": "greather_than", "kwargs": {"lower_bound": 1e-4}},
        "noise_hyperprior": _gamma(0.05, 1.5),
        "noise_constraint": {"constraint": "greather_than", "kwargs": {"lower_bound": 1e-6}},
        # matrix products for the squared distances, the fit's gradient in closed form and K's factor kept between
        # calls: equal to rounding, what makes D = 100-200 with windows of 5D points interactive
        "squared_distances": "inner_products",
        "marginal_likelihood": "closed_form",
        "factorization": "incremental",
    }
    learned = {"optimize_hyperparameters": True, "no_noise_optimization": False}
    unit_box = {"lower_bound": 0.0, "upper_bound": 1.0}
    if method in ("gibo", "mpd"):
        options = {
            "max_samples_per_iteration": D,
            "delta": 0.1,
            "model_config": {**gp_model, "N_max": 5 * D},
            "hyperparameter_config": learned,
            "min_points_for_fit": D + 1,
        }
        if method == "gibo":
            options.update(
                max_samples_per_iteration=max(1, (D + 1) // 2),
                optimizer_torch_config={"lr": 0.25},
                normalize_gradient=True,
            )
        else:
            options.update(max_walk_steps=100)
        if bounded:
            options.update(bounds=unit_box, clip_to_bounds=True)
        return options
    if method == "les":
        options = {
            "model_config": {**gp_model, "N_max": 5 * D},
            "hyperparameter_config": learned,
            "min_points_for_fit": D + 1,
            "delta": 0.1,
        }
        if bounded:
            options.update(bounds=unit_box)
        return options
    if method == "cmaes":
        return {"sigma": 0.2, **({"bounds": unit_box} if bounded else {})}
    if method == "ars":
        return {
            "step_size": 0.02,
            "exploration_noise": 0.02,
            "samples_per_iteration": 1 + D // 8,
            "standard_deviation_scaling": True,
        }
    if method == "vbo":
        return {
            "model_config": gp_model,
            "hyperparameter_config": learned,
            "generate_initial_data": D,
            "optimize_acqf_config": {"bounds": unit_box},
        }
    if method == "turbo":
        return {"bounds": unit_box}
    raise ConfigError(f"unknown method {method!r} (one of {', '.join(METHODS)})")


def merged_options(defaults: dict, options: dict) -> dict:
    """defaults with options laid over them, nested mappings merged key by key."""
    merged = copy.deepcopy(defaults)
    for key, value in options.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merged_options(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
