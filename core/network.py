"""The network itself: affine layers, activations, softmax + cross-entropy, backpropagation.

Pure NumPy, no framework. Rows are examples: X is (m, 784). The app shows the article's
column notation (Z1 = W1 X + b1); here the same maths is written for row batches,
Z1 = X W1 + b1, so W1 is (784, h) rather than (h, 784). This module must not know about
training loops, files or any UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
INITS = ("auto", "he", "lecun", "uniform")
LEAKY_SLOPE = 0.01


# --- activations: each forward rule sits right above its derivative -----------------------------


def relu(Z):
    """ReLU(Z) = max(Z, 0)."""
    return np.maximum(Z, 0)


def relu_grad(Z):
    """ReLU'(Z) = 1 where Z > 0, else 0."""
    return (Z > 0).astype(Z.dtype)


def leaky_relu(Z):
    """LeakyReLU(Z) = Z where Z > 0, else 0.01 Z."""
    return np.where(Z > 0, Z, Z * Z.dtype.type(LEAKY_SLOPE))


def leaky_relu_grad(Z):
    """LeakyReLU'(Z) = 1 where Z > 0, else 0.01."""
    return np.where(Z > 0, Z.dtype.type(1), Z.dtype.type(LEAKY_SLOPE))


def sigmoid(Z):
    """sigma(Z) = 1 / (1 + e^-Z), computed without overflow for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E)).astype(Z.dtype, copy=False)


def sigmoid_grad(Z):
    """sigma'(Z) = sigma(Z) (1 - sigma(Z))."""
    S = sigmoid(Z)
    return S * (1 - S)


def tanh(Z):
    """tanh(Z)."""
    return np.tanh(Z)


def tanh_grad(Z):
    """tanh'(Z) = 1 - tanh(Z)^2."""
    T = np.tanh(Z)
    return 1 - T * T


_ACT = {
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
}


def activation_fns(name: str):
    """The pair (g, g') for an activation name."""
    try:
        return _ACT[name]
    except KeyError:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}."
        ) from None


# --- output layer: softmax and cross-entropy ------------------------------------------------


def softmax(Z):
    """softmax(Z)_k = e^(Z_k) / sum_j e^(Z_j), row by row; the row max is subtracted first."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def cross_entropy(P, y) -> float:
    """L = -(1/m) sum_i log P[i, y_i]; the log is clipped so a zero probability stays finite."""
    m = P.shape[0]
    picked = P[np.arange(m), np.asarray(y)]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, None))))


def one_hot(y, k: int = 10, dtype=np.float32):
    """Y[i, y_i] = 1, zeros elsewhere: (m,) labels -> (m, k)."""
    y = np.asarray(y)
    Y = np.zeros((y.shape[0], k), dtype=dtype)
    Y[np.arange(y.shape[0]), y] = 1
    return Y


def smooth_labels(Y, eps: float):
    """Label smoothing: Y_eps = (1 - eps) Y + eps / k, for one-hot rows Y of k classes.

    With eps = 0.1 the right digit's target is 0.91 and every other digit's 0.01, so the network
    is never pushed towards a probability of exactly 1 (whose logit would have to grow without
    end). The rows still sum to 1, so backward's dZ = (P - Y_eps) / m holds unchanged.
    """
    k = Y.shape[1]
    return Y * Y.dtype.type(1 - eps) + Y.dtype.type(eps / k)  # float rows stay their dtype


# --- parameters -------------------------------------------------------------------------------


@dataclass
class Network:
    """A multilayer perceptron: W[l] is (n_l, n_{l+1}), b[l] is (n_{l+1},).

    Python lists count from 0, so the article's W1, b1 are W[0], b[0] here.
    """

    sizes: list[int]
    activation: str
    W: list[np.ndarray]
    b: list[np.ndarray]

    @property
    def dtype(self):
        return self.W[0].dtype

    @property
    def n_params(self) -> int:
        return int(sum(w.size + c.size for w, c in zip(self.W, self.b, strict=True)))

    def copy(self) -> Network:
        return Network(
            list(self.sizes),
            self.activation,
            [w.copy() for w in self.W],
            [c.copy() for c in self.b],
        )

    def astype(self, dtype) -> Network:
        return Network(
            list(self.sizes),
            self.activation,
            [w.astype(dtype) for w in self.W],
            [c.astype(dtype) for c in self.b],
        )

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities: (n, 784) in [0, 1] -> (n, 10)."""
        X = np.asarray(X, dtype=self.dtype).reshape(-1, self.sizes[0])
        return forward(self, X)

    def predict(self, X) -> np.ndarray:
        """Predicted digits: (n, 784) -> (n,)."""
        return self.predict_proba(X).argmax(axis=1)


@dataclass
class Gradients:
    """dL/dW and dL/db, with the same fields and shapes as the Network's parameters."""

    W: list[np.ndarray]
    b: list[np.ndarray]


def init_network(
    sizes,
    activation: str = "relu",
    rng: np.random.Generator | None = None,
    init: str = "auto",
    dtype=np.float32,
) -> Network:
    """Fresh weights for layer sizes like [784, 256, 10]; biases start at zero.

    He: N(0, 2/n_in), suits ReLU. LeCun: N(0, 1/n_in), suits tanh and sigmoid.
    uniform: U(-0.5, 0.5) for weights and biases, as the article did.
    """
    activation_fns(activation)
    if init not in INITS:
        raise ValueError(f"Unknown initialisation {init!r}; choose one of {', '.join(INITS)}.")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise ValueError(f"Layer sizes must be positive and at least two layers, got {sizes}.")
    rng = rng if rng is not None else np.random.default_rng(0)
    if init == "auto":
        init = "he" if activation in ("relu", "leaky_relu") else "lecun"
    W, b = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        if init == "uniform":
            W.append(rng.uniform(-0.5, 0.5, (n_in, n_out)).astype(dtype))
            b.append(rng.uniform(-0.5, 0.5, n_out).astype(dtype))
        else:
            scale = np.sqrt((2.0 if init == "he" else 1.0) / n_in)
            W.append((rng.standard_normal((n_in, n_out)) * scale).astype(dtype))
            b.append(np.zeros(n_out, dtype=dtype))
    return Network(sizes, activation, W, b)


# --- forward and backward ---------------------------------------------------------------------


@dataclass
class Trace:
    """Everything the forward pass computed: Z[l] pre-activations, A[l] activations.

    A[0] is the input X; A[-1] is P, the softmax output. Z[l] feeds A[l + 1].
    """

    Z: list[np.ndarray] = field(default_factory=list)
    A: list[np.ndarray] = field(default_factory=list)

    @property
    def P(self) -> np.ndarray:
        return self.A[-1]


def forward(net: Network, X, keep: bool = False):
    """Z_l = A_{l-1} W_l + b_l, A_l = g(Z_l), and P = softmax(Z_L) at the end.

    Returns P, (m, 10); with keep=True returns a Trace holding every Z and A.
    """
    g, _ = activation_fns(net.activation)
    A = X
    trace = Trace(A=[X]) if keep else None
    last = len(net.W) - 1
    for l, (W, b) in enumerate(zip(net.W, net.b, strict=True)):
        Z = A @ W + b  # (m, n_l) @ (n_l, n_{l+1}) -> (m, n_{l+1})
        A = softmax(Z) if l == last else g(Z)
        if keep:
            trace.Z.append(Z)
            trace.A.append(A)
    return trace if keep else A


def backward(net: Network, trace: Trace, Y, need_dX: bool = False):
    """Backpropagation of the mean cross-entropy through every layer.

    Softmax and cross-entropy are fused: for L = -mean(sum Y log P), dL/dZ_L = (P - Y) / m,
    which is simpler and more stable than chaining the two derivatives separately.
    Then, from the last layer down: dW_l = A_{l-1}^T dZ_l, db_l = sum_rows dZ_l,
    dA_{l-1} = dZ_l W_l^T, dZ_{l-1} = dA_{l-1} * g'(Z_{l-1}).
    Returns Gradients (and dL/dX, (m, 784), when need_dX).
    """
    _, g_grad = activation_fns(net.activation)
    P = trace.P
    m = P.shape[0]
    dZ = (P - Y) / P.dtype.type(m)  # (m, 10)
    dW = [None] * len(net.W)
    db = [None] * len(net.W)
    for l in range(len(net.W) - 1, -1, -1):
        dW[l] = trace.A[l].T @ dZ  # (n_l, m) @ (m, n_{l+1}) -> (n_l, n_{l+1})
        db[l] = dZ.sum(axis=0)
        if l > 0 or need_dX:
            dA = dZ @ net.W[l].T  # (m, n_{l+1}) @ (n_{l+1}, n_l) -> (m, n_l)
            if l > 0:
                dZ = dA * g_grad(trace.Z[l - 1])
    grads = Gradients(dW, db)
    return (grads, dA) if need_dX else grads


def loss_and_grads(net: Network, X, y):
    """One forward and one backward pass: returns (loss, Gradients, P)."""
    trace = forward(net, X, keep=True)
    loss = cross_entropy(trace.P, y)
    grads = backward(net, trace, one_hot(y, net.sizes[-1], dtype=trace.P.dtype))
    return loss, grads, trace.P


def input_gradient(net: Network, X, cls) -> np.ndarray:
    """Saliency: dP_c / dX for each row, where c is the chosen class (an int or one per row).

    With P = softmax(Z_L), dP_c/dZ_L = P_c (e_c - P); the rest is ordinary backprop down to
    the pixels. Returns (m, 784), the same shape as X.
    """
    _, g_grad = activation_fns(net.activation)
    X = np.asarray(X, dtype=net.dtype).reshape(-1, net.sizes[0])
    trace = forward(net, X, keep=True)
    P = trace.P
    m = P.shape[0]
    c = np.broadcast_to(np.asarray(cls), (m,))
    Pc = P[np.arange(m), c][:, None]
    dZ = -Pc * P  # (m, 10)
    dZ[np.arange(m), c] += Pc[:, 0]
    for l in range(len(net.W) - 1, -1, -1):
        dA = dZ @ net.W[l].T  # (m, n_{l+1}) @ (n_{l+1}, n_l) -> (m, n_l)
        if l > 0:
            dZ = dA * g_grad(trace.Z[l - 1])
    return dA
