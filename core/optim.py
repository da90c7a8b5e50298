"""Optimizers and learning-rate schedules, written out: SGD, momentum (optionally Nesterov), Adam.

Each optimizer updates a Network in place from a Gradients of the same shape and keeps its own
memory in a small state dataclass. Nothing here knows about data or training loops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.network import Gradients, Network

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
SCHEDULES = ("constant", "cosine", "step")


@dataclass
class OptimizerState:
    """What an optimizer remembers between steps: velocities (V) or Adam's moments (M, S)."""

    t: int = 0
    V: list[np.ndarray] = field(default_factory=list)
    M: list[np.ndarray] = field(default_factory=list)
    S: list[np.ndarray] = field(default_factory=list)
    buf: list[np.ndarray] = field(default_factory=list)  # scratch, not state: never saved


def _params(net: Network) -> list[np.ndarray]:
    return [*net.W, *net.b]


def _grads(g: Gradients) -> list[np.ndarray]:
    return [*g.W, *g.b]


@dataclass
class Optimizer:
    """sgd, momentum, nesterov or adam; beta is the momentum coefficient (Adam: beta1)."""

    name: str = "adam"
    beta: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        if self.name not in OPTIMIZERS:
            raise ValueError(
                f"Unknown optimizer {self.name!r}; choose one of {', '.join(OPTIMIZERS)}."
            )

    def init(self, net: Network) -> OptimizerState:
        zeros = [np.zeros_like(p) for p in _params(net)]
        if self.name in ("momentum", "nesterov"):
            return OptimizerState(V=zeros)
        if self.name == "adam":
            return OptimizerState(M=zeros, S=[np.zeros_like(p) for p in _params(net)])
        return OptimizerState()

    def step(self, net: Network, grads: Gradients, state: OptimizerState, lr: float) -> None:
        """Apply one update to `net` in place."""
        state.t += 1
        params, gs = _params(net), _grads(grads)
        if self.name == "sgd":
            for p, g in zip(params, gs, strict=True):
                p -= lr * g  # theta <- theta - lr g
        elif self.name == "momentum":
            for p, g, v in zip(params, gs, state.V, strict=True):
                v *= self.beta  # v <- beta v + g
                v += g
                p -= lr * v  # theta <- theta - lr v
        elif self.name == "nesterov":
            for p, g, v in zip(params, gs, state.V, strict=True):
                v *= self.beta  # v <- beta v + g
                v += g
                p -= lr * (g + self.beta * v)  # look ahead: theta <- theta - lr (g + beta v)
        else:
            b1, b2, t = self.beta, self.beta2, state.t
            # Bias correction folded into the step size, as in Kingma & Ba's Algorithm 1.
            lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            if not state.buf:  # scratch space, so a step allocates nothing
                state.buf = [np.empty_like(p) for p in params]
            for p, g, m, s, buf in zip(params, gs, state.M, state.S, state.buf, strict=True):
                m *= b1  # m <- b1 m + (1 - b1) g
                np.multiply(g, 1 - b1, out=buf)
                m += buf
                s *= b2  # s <- b2 s + (1 - b2) g^2
                np.multiply(g, g, out=buf)
                buf *= 1 - b2
                s += buf
                np.sqrt(s, out=buf)  # theta <- theta - lr_t m / (sqrt(s) + eps)
                buf += self.eps
                np.divide(m, buf, out=buf)
                buf *= lr_t
                p -= buf


def learning_rate(
    base_lr: float,
    schedule: str,
    progress: float,
    step_every: float = 0.0,
    gamma: float = 0.1,
    epoch: float = 0.0,
    min_frac: float = 0.0,
) -> float:
    """The learning rate at a point of training.

    constant: base_lr. cosine: base_lr (min_frac + (1 - min_frac) (1 + cos(pi progress)) / 2),
    with progress in [0, 1]. step: base_lr gamma^floor(epoch / step_every).
    """
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        p = min(max(progress, 0.0), 1.0)
        return base_lr * (min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * p)))
    if schedule == "step":
        return base_lr * gamma ** math.floor(epoch / step_every) if step_every > 0 else base_lr
    raise ValueError(f"Unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}.")
