"""Every path the project reads or writes, in one place.

Environment variables let tests and deployments point elsewhere without touching code:
NNDIGITS_DATA_DIR (MNIST cache and personal digits) and NNDIGITS_WEIGHTS_DIR (model files).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Where MNIST is cached and personal drawings are kept (ignored by git)."""
    return Path(os.environ.get("NNDIGITS_DATA_DIR", ROOT / "data"))


def weights_dir() -> Path:
    """Where model files live; `default` is committed here."""
    return Path(os.environ.get("NNDIGITS_WEIGHTS_DIR", ROOT / "weights"))


def shipped_weights_dir() -> Path:
    """The committed weights folder, whatever NNDIGITS_WEIGHTS_DIR says (for `default`)."""
    return ROOT / "weights"


def mnist_cache_file() -> Path:
    """The verified MNIST cache: one uncompressed .npz of four uint8 arrays."""
    return data_dir() / "mnist.npz"


def personal_dir() -> Path:
    """The user's own labelled drawings."""
    return data_dir() / "personal"


def runs_dir() -> Path:
    """The runs history of the local workspace (NNDIGITS_RUNS_DIR points it elsewhere)."""
    return Path(os.environ.get("NNDIGITS_RUNS_DIR") or data_dir() / "runs")
