"""Shared fixtures: the real MNIST (acquired by .ci/run), temp model folders, a toy problem."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core import paths


@pytest.fixture(scope="session")
def mnist():
    """The real, verified MNIST. In CI it must be there (.ci/run acquires it); locally a test
    that needs it is skipped with a hint when the cache is missing."""
    from core import data

    if not paths.mnist_cache_file().exists() and not os.environ.get("CI"):
        pytest.skip("MNIST is not cached yet: run `python -m core.data` once")
    return data.load_mnist()


@pytest.fixture
def weights_tmp(tmp_path, monkeypatch):
    """An empty weights folder, so tests never touch the shipped models."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setenv("NNDIGITS_WEIGHTS_DIR", str(d))
    return d


def toy_dataset(n=600, seed=0):
    """Ten noisy class prototypes in 784-d: learnable in a few steps, no download needed."""
    from core.train import Dataset

    rng = np.random.default_rng(seed)
    protos = rng.random((10, 784)).astype(np.float32)

    def make(k):
        y = rng.integers(0, 10, k).astype(np.uint8)
        X = np.clip(protos[y] + 0.3 * rng.standard_normal((k, 784)), 0, 1).astype(np.float32)
        return X, y

    return Dataset(*make(n), *make(n // 5), *make(n // 5))


@pytest.fixture
def toy():
    return toy_dataset()


pytest_plugins = ["tests.browser_support"]  # the real server and browser fixtures


@pytest.fixture(scope="session")
def shipped_model():
    """The committed weights/default model."""
    from core.model_store import DEFAULT, load_model

    return load_model(DEFAULT)


@pytest.fixture(autouse=True)
def runs_tmp(tmp_path, monkeypatch):
    """Every test keeps the runs it records (ui.common.runs_dir) in a temp folder of its own."""
    d = tmp_path / "runs"
    monkeypatch.setenv("NNDIGITS_RUNS_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def app_navigation(monkeypatch):
    """Run every AppTest through app.py's st.navigation, as the real server does.

    AppTest looks for a pages/ folder before every run and, finding one, starts in Streamlit's
    old multipage mode, where a switched-to page runs without app.py. A real server does that
    only on its first run, which `ui.common.ensure_app_navigation` corrects; here it would
    rerun every run and swallow button clicks, so the mode is pinned off instead.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
