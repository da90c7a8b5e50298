"""The network's maths against independent oracles: finite differences and hand computation."""

import numpy as np
import pytest

from core.network import (
    ACTIVATIONS,
    activation_fns,
    backward,
    cross_entropy,
    forward,
    init_network,
    input_gradient,
    loss_and_grads,
    one_hot,
    smooth_labels,
    softmax,
)


def _rel_err(a, b):
    return np.abs(a - b) / np.maximum(1e-10, np.abs(a) + np.abs(b))


def _loss(net, X, y):
    return cross_entropy(forward(net, X), y)


def _fd_check_weights(net, X, y, rng, samples=12, h=1e-6):
    """Central differences on random weights and biases of every layer vs backprop.

    Returns the relative error ||fd - bp|| / (||fd|| + ||bp||) over all sampled entries, per
    parameter array, worst first: robust to individual entries that are nearly zero.
    """
    _, grads, _ = loss_and_grads(net, X, y)
    errors = []
    for l in range(len(net.W)):
        for arr, g in ((net.W[l], grads.W[l]), (net.b[l], grads.b[l])):
            fd, bp = [], []
            for _ in range(samples):
                idx = tuple(rng.integers(s) for s in arr.shape)
                old = arr[idx]
                arr[idx] = old + h
                up = _loss(net, X, y)
                arr[idx] = old - h
                down = _loss(net, X, y)
                arr[idx] = old
                fd.append((up - down) / (2 * h))
                bp.append(g[idx])
            fd, bp = np.array(fd), np.array(bp)
            errors.append(
                np.linalg.norm(fd - bp) / max(1e-12, np.linalg.norm(fd) + np.linalg.norm(bp))
            )
    return max(errors)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backprop_matches_finite_differences_for_every_activation(activation):
    rng = np.random.default_rng(1)
    net = init_network([784, 12, 10], activation, rng, dtype=np.float64)
    X = rng.random((6, 784))
    y = rng.integers(0, 10, 6)
    assert _fd_check_weights(net, X, y, rng) < 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_backprop_matches_finite_differences_with_two_hidden_layers(activation):
    rng = np.random.default_rng(2)
    net = init_network([784, 16, 12, 10], activation, rng, dtype=np.float64)
    X = rng.random((5, 784))
    y = rng.integers(0, 10, 5)
    assert _fd_check_weights(net, X, y, rng) < 1e-6


def test_backprop_matches_finite_differences_without_a_hidden_layer():
    rng = np.random.default_rng(4)
    net = init_network([784, 10], "relu", rng, dtype=np.float64)  # softmax regression
    X = rng.random((5, 784))
    y = rng.integers(0, 10, 5)
    assert _fd_check_weights(net, X, y, rng) < 1e-6


def test_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    net = init_network([784, 20, 16, 10], "relu", rng, dtype=np.float64)
    X = rng.random((2, 784))
    cls = np.array([4, 7])
    G = input_gradient(net, X, cls)
    assert G.shape == X.shape
    h = 1e-6
    for row in range(2):
        for px in rng.choice(784, 10, replace=False):
            Xp, Xm = X.copy(), X.copy()
            Xp[row, px] += h
            Xm[row, px] -= h
            fd = (forward(net, Xp)[row, cls[row]] - forward(net, Xm)[row, cls[row]]) / (2 * h)
            assert _rel_err(fd, G[row, px]) < 1e-6 or abs(fd - G[row, px]) < 1e-12


def test_backward_can_return_the_gradient_with_respect_to_the_input():
    rng = np.random.default_rng(4)
    net = init_network([784, 8, 10], "sigmoid", rng, dtype=np.float64)
    X, y = rng.random((3, 784)), np.array([0, 1, 2])
    trace = forward(net, X, keep=True)
    _, dX = backward(net, trace, one_hot(y, dtype=np.float64), need_dX=True)
    h, px = 1e-6, 300
    Xp, Xm = X.copy(), X.copy()
    Xp[:, px] += h
    Xm[:, px] -= h
    # dX holds d(mean loss)/dX; the mean over rows makes each row's share 1/m of the total.
    fd = (_loss(net, Xp, y) - _loss(net, Xm, y)) / (2 * h)
    assert _rel_err(fd, dX[:, px].sum()) < 1e-6


def test_smoothed_targets_keep_a_little_for_every_digit_and_still_sum_to_one():
    Y = smooth_labels(one_hot(np.array([3, 0])), 0.1)
    assert Y.dtype == np.float32
    assert Y[0, 3] == pytest.approx(0.91) and Y[0, 0] == pytest.approx(0.01)
    assert np.allclose(Y.sum(axis=1), 1.0)
    assert np.array_equal(smooth_labels(one_hot(np.array([5])), 0.0), one_hot(np.array([5])))


def test_backprop_with_smoothed_targets_matches_finite_differences_of_their_cross_entropy():
    """dZ = (P - Y_eps) / m is the gradient of L = -(1/m) sum Y_eps log P, checked entry by
    entry against central differences of that loss."""
    rng = np.random.default_rng(5)
    net = init_network([784, 12, 10], "relu", rng, dtype=np.float64)
    X, y = rng.random((6, 784)), rng.integers(0, 10, 6)
    Y = smooth_labels(one_hot(y, dtype=np.float64), 0.1)

    def loss() -> float:
        return float(-np.mean(np.sum(Y * np.log(forward(net, X)), axis=1)))

    grads = backward(net, forward(net, X, keep=True), Y)
    h = 1e-6
    for arr, g in ((net.W[0], grads.W[0]), (net.W[1], grads.W[1]), (net.b[1], grads.b[1])):
        for _ in range(8):
            idx = tuple(rng.integers(s) for s in arr.shape)
            old = arr[idx]
            arr[idx] = old + h
            up = loss()
            arr[idx] = old - h
            down = loss()
            arr[idx] = old
            fd = (up - down) / (2 * h)
            assert _rel_err(fd, g[idx]) < 1e-5 or abs(fd - g[idx]) < 1e-10
    # And it is not the plain one-hot gradient: the targets really changed.
    plain = backward(net, forward(net, X, keep=True), one_hot(y, dtype=np.float64))
    assert not np.allclose(plain.b[1], grads.b[1])


def test_softmax_stays_finite_and_normalised_for_huge_logits():
    Z = np.array([[1e4, 0.0, -1e4], [1e30, 1e30, 1e30], [-1e4, -1e4 + 1, -1e4]], np.float32)
    P = softmax(Z)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(P[1], 1 / 3, rtol=1e-6)
    assert P[0, 0] == pytest.approx(1.0)


def test_cross_entropy_of_a_zero_probability_is_clipped_not_infinite():
    P = np.array([[1.0, 0.0]])
    assert np.isfinite(cross_entropy(P, [1]))
    assert cross_entropy(P, [0]) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_each_activation_derivative_matches_finite_differences(activation):
    g, g_grad = activation_fns(activation)
    Z = np.linspace(-4, 4, 41)[np.abs(np.linspace(-4, 4, 41)) > 0.05]  # avoid the kink at 0
    h = 1e-6
    np.testing.assert_allclose(g_grad(Z), (g(Z + h) - g(Z - h)) / (2 * h), rtol=1e-5, atol=1e-8)


def test_forward_keeps_every_layer_when_asked():
    rng = np.random.default_rng(5)
    net = init_network([784, 32, 16, 10], "relu", rng)
    X = rng.random((3, 784)).astype(np.float32)
    trace = forward(net, X, keep=True)
    assert [z.shape for z in trace.Z] == [(3, 32), (3, 16), (3, 10)]
    assert [a.shape for a in trace.A] == [(3, 784), (3, 32), (3, 16), (3, 10)]
    assert (trace.A[1] >= 0).all()
    np.testing.assert_allclose(trace.P, forward(net, X), rtol=1e-6)
    assert trace.P.dtype == np.float32


def test_initialisations_have_the_promised_scale():
    rng = np.random.default_rng(6)
    he = init_network([784, 1000, 10], "relu", rng, init="he")
    lecun = init_network([784, 1000, 10], "tanh", rng, init="lecun")
    uni = init_network([784, 10, 10], "relu", rng, init="uniform")
    assert he.W[0].std() == pytest.approx(np.sqrt(2 / 784), rel=0.02)
    assert lecun.W[0].std() == pytest.approx(np.sqrt(1 / 784), rel=0.02)
    assert uni.W[0].min() >= -0.5 and uni.W[0].max() <= 0.5 and uni.b[0].std() > 0.1


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown activation"):
        init_network([784, 10, 10], "swish")
