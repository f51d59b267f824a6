"""Fixtures the optimizer tests share."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module: its tests factor tiny matrices, for which a second thread only adds
    contention (on a loaded 2-core machine it made them several times slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
