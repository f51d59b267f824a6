"""GIBO: local policy search with Bayesian optimization (Müller, von Rohr, Trimpe, NeurIPS 2021)."""

__version__ = "0.1.0"
