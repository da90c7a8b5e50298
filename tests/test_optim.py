"""Each optimizer's step against numbers worked out by hand."""

import math

import numpy as np
import pytest

from core.network import Gradients, Network
from core.optim import Optimizer, learning_rate


def _one_weight(w=1.0):
    return Network([1, 1], "relu", [np.array([[w]])], [np.array([0.0])])


def _grad(g):
    return Gradients([np.array([[g]])], [np.array([0.0])])


def test_sgd_step_moves_against_the_gradient():
    net, opt = _one_weight(1.0), Optimizer("sgd")
    state = opt.init(net)
    opt.step(net, _grad(2.0), state, lr=0.1)  # 1 - 0.1 * 2
    assert net.W[0][0, 0] == pytest.approx(0.8)


def test_momentum_accumulates_velocity_over_steps():
    net, opt = _one_weight(1.0), Optimizer("momentum", beta=0.9)
    state = opt.init(net)
    opt.step(net, _grad(1.0), state, lr=0.1)  # v = 1, w = 0.9
    opt.step(net, _grad(1.0), state, lr=0.1)  # v = 1.9, w = 0.9 - 0.19 = 0.71
    assert net.W[0][0, 0] == pytest.approx(0.71)


def test_nesterov_looks_ahead_along_the_velocity():
    net, opt = _one_weight(1.0), Optimizer("nesterov", beta=0.9)
    state = opt.init(net)
    opt.step(net, _grad(1.0), state, lr=0.1)  # v = 1, w = 1 - 0.1 (1 + 0.9) = 0.81
    opt.step(net, _grad(1.0), state, lr=0.1)  # v = 1.9, w = 0.81 - 0.1 (1 + 1.71) = 0.539
    assert net.W[0][0, 0] == pytest.approx(0.539)


def test_adam_first_steps_match_hand_computation():
    net, opt = _one_weight(1.0), Optimizer("adam", beta=0.9, beta2=0.999, eps=1e-8)
    state = opt.init(net)
    opt.step(net, _grad(2.0), state, lr=0.01)
    # Step 1: m_hat = 2, s_hat = 4, update = 0.01 * 2 / (2 + eps) = 0.01.
    assert net.W[0][0, 0] == pytest.approx(0.99, abs=1e-7)
    opt.step(net, _grad(-1.0), state, lr=0.01)
    m = 0.9 * 0.2 + 0.1 * -1.0  # raw moments after step 2
    s = 0.999 * 0.004 + 0.001 * 1.0
    m_hat, s_hat = m / (1 - 0.9**2), s / (1 - 0.999**2)
    assert net.W[0][0, 0] == pytest.approx(
        0.99 - 0.01 * m_hat / (math.sqrt(s_hat) + 1e-8), abs=1e-6
    )


def test_unknown_optimizer_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown optimizer"):
        Optimizer("rmsprop")


def test_schedules_start_at_the_base_rate_and_decay_as_described():
    assert learning_rate(0.1, "constant", 0.7) == 0.1
    assert learning_rate(0.1, "cosine", 0.0) == pytest.approx(0.1)
    assert learning_rate(0.1, "cosine", 0.5) == pytest.approx(0.05)
    assert learning_rate(0.1, "cosine", 1.0) == pytest.approx(0.0)
    assert learning_rate(0.1, "step", 0, step_every=5, gamma=0.5, epoch=4) == pytest.approx(0.1)
    assert learning_rate(0.1, "step", 0, step_every=5, gamma=0.5, epoch=10) == pytest.approx(0.025)
