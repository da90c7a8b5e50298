"""Augmentation against geometry: shifts move the centre of mass, nothing leaves [0, 1]."""

import numpy as np
import pytest

from core.augment import AUGMENTS, augment_batch


def _square_batch(m=64):
    X = np.zeros((m, 28, 28), np.float32)
    X[:, 10:18, 11:17] = 1.0
    return X.reshape(m, 784)


def _centre_of_mass(X):
    imgs = X.reshape(-1, 28, 28)
    ys, xs = np.mgrid[0:28, 0:28]
    total = imgs.sum(axis=(1, 2))
    return (imgs * ys).sum(axis=(1, 2)) / total, (imgs * xs).sum(axis=(1, 2)) / total


def test_none_returns_the_batch_untouched():
    X = _square_batch()
    assert augment_batch(X, "none", np.random.default_rng(0)) is X


@pytest.mark.parametrize("level", [a for a in AUGMENTS if a != "none"])
def test_every_level_keeps_shape_dtype_and_range(level):
    X = _square_batch()
    out = augment_batch(X, level, np.random.default_rng(1))
    assert out.shape == X.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert not np.array_equal(out, X)


def test_shifts_move_the_centre_of_mass_by_at_most_two_pixels():
    X = _square_batch(256)
    cy0, cx0 = _centre_of_mass(X)
    cy, cx = _centre_of_mass(augment_batch(X, "shift", np.random.default_rng(2)))
    dy, dx = cy - cy0, cx - cx0
    assert np.abs(dy).max() <= 2.01 and np.abs(dx).max() <= 2.01
    assert np.abs(dy).max() > 1.5  # they do use the range
    # A pure shift keeps the amount of ink (the square stays inside the frame).
    np.testing.assert_allclose(
        augment_batch(X, "shift", np.random.default_rng(2)).sum(1), X.sum(1), rtol=1e-4
    )


def test_each_image_in_a_batch_gets_its_own_transform():
    X = _square_batch(8)
    out = augment_batch(X, "affine", np.random.default_rng(3))
    assert len({round(float(s), 3) for s in out.sum(1)}) > 4


def test_an_unknown_level_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown augmentation"):
        augment_batch(_square_batch(), "mixup", np.random.default_rng(0))
