"""Objectives the optimizer tests share."""

import torch

CENTER = torch.tensor([0.2, 0.8], dtype=torch.float64)


def quadratic(x: torch.Tensor) -> torch.Tensor:
    """J(x) = −‖x − c‖², maximum 0 at c = (0.2, 0.8) inside [0, 1]²."""
    return -(x - CENTER).pow(2).sum()


class RecordingObjective:
    """J with a log of every evaluated point and value."""

    def __init__(self, function):
        self.function = function
        self.points, self.values = [], []

    def __call__(self, x):
        value = self.function(x)
        self.points.append(x.detach().clone())
        self.values.append(float(value))
        return value
