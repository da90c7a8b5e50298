"""Looking inside a trained network: what it computes for one drawing, how it does on the test
set, and the article's equations evaluated on live numbers.

Pure NumPy on top of core.network. It never imports streamlit, never changes a model it is given
(the one-step demo works on a copy) and never writes files. Rows are examples: X is (m, 784).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from core.evaluate import Scores, confusion_matrix
from core.network import (
    Network,
    activation_fns,
    cross_entropy,
    forward,
    input_gradient,
    one_hot,
    softmax,
)

SIDE = 28  # images are 28 x 28
PIXELS = SIDE * SIDE
CLASSES = 10

# Nearest neighbours search a fixed random 20,000 of the 60,000 training images. Measured with
# the shipped model (1024 units in its first layer) on one BLAS thread: the index takes 82 MB and
# 0.55 s to build, a query about 5 ms, and 96.7% of the 8 neighbours of a test digit share its
# label. All 60,000 would take three times the memory and time for about a point more: not worth
# it on every stroke.
NEIGHBOUR_POOL = 20_000
NEIGHBOUR_SEED = 4


def as_rows(x) -> np.ndarray:
    """Any (28, 28), (784,) or (m, 784) image(s) in [0, 1] -> (m, 784) float rows.

    Floats keep their precision (a float64 check stays float64); anything else becomes float32.
    """
    X = np.asarray(x)
    if X.dtype.kind != "f":
        X = X.astype(np.float32)
    return X.reshape(-1, PIXELS)


def as_float(X_u8) -> np.ndarray:
    """MNIST pixels 0..255 (uint8) -> float32 in [0, 1], as the network was trained on."""
    X = np.asarray(X_u8)
    if X.dtype == np.uint8:
        return X.astype(np.float32) * np.float32(1 / 255)
    return X.astype(np.float32, copy=False)


def fingerprint(net: Network) -> str:
    """A short id of a network's exact weights, for caches keyed by model identity."""
    h = hashlib.sha1(f"{net.sizes}|{net.activation}".encode())
    for W, b in zip(net.W, net.b, strict=True):
        h.update(np.ascontiguousarray(W).data)
        h.update(np.ascontiguousarray(b).data)
    return h.hexdigest()[:16]


# --- one drawing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The network's answer for one image."""

    P: np.ndarray  # (10,) probabilities
    digit: int  # argmax_k P_k
    confidence: float  # P_digit


def read_digit(net: Network, x) -> Reading:
    """P = softmax(Z_L) for one image and its most probable digit: (28, 28) -> Reading."""
    P = forward(net, as_rows(x))[0]
    digit = int(P.argmax())
    return Reading(P, digit, float(P[digit]))


def hidden_activations(net: Network, x) -> list[np.ndarray]:
    """A_l = g(Z_l) of every hidden layer l = 1 .. L-1 for one image: a list of (n_l,) vectors."""
    trace = forward(net, as_rows(x), keep=True)
    return [A[0] for A in trace.A[1:-1]]


def saliency(net: Network, x, cls: int) -> np.ndarray:
    """S = dP_c / dX: how much P_c would rise per unit of extra ink at each pixel, (28, 28)."""
    return input_gradient(net, as_rows(x), cls)[0].reshape(SIDE, SIDE)


def gradient_times_input(net: Network, x, cls: int) -> np.ndarray:
    """G = X * dP_c / dX: the saliency where there is ink, i.e. the strokes that drove P_c."""
    X = as_rows(x)
    return (X * input_gradient(net, X, cls))[0].reshape(SIDE, SIDE)


# --- nearest training images in the first hidden layer's space -----------------------------------


def first_hidden(net: Network, X) -> np.ndarray:
    """A1 = g(X W1 + b1), the first hidden layer; the pixels themselves if there is none."""
    if len(net.W) == 1:
        return X
    g, _ = activation_fns(net.activation)
    return g(X @ net.W[0] + net.b[0])  # (m, 784) @ (784, h) -> (m, h)


CHUNK = 1000  # images per batch through a network in the server: 8 MB of temporaries at 1024


@dataclass(frozen=True)
class NeighbourIndex:
    """First-hidden-layer activations of a fixed pool of training images."""

    H: np.ndarray  # (n, h) A1 of each pooled image
    H_sq: np.ndarray  # (n,) ||H_i||^2, kept for the distance expansion below
    rows: np.ndarray  # (n,) which of the 60,000 training images each row is
    labels: np.ndarray  # (n,) their digits


def build_neighbour_index(
    net: Network, X_train, y_train, pool: int = NEIGHBOUR_POOL, seed: int = NEIGHBOUR_SEED
) -> NeighbourIndex:
    """A1 for `pool` training images picked at random (fixed by `seed`), in batches."""
    n = len(y_train)
    rows = (
        np.arange(n) if pool >= n else np.sort(np.random.default_rng(seed).choice(n, pool, False))
    )
    # Filled in place, chunk by chunk: a concatenation would hold the index twice at its peak
    # (2 x 82 MB for a 1024-unit layer, in the web server).
    H = np.empty((len(rows), net.W[0].shape[1]), np.result_type(np.float32, net.W[0]))
    for i in range(0, len(rows), CHUNK):
        H[i : i + CHUNK] = first_hidden(net, as_float(X_train[rows[i : i + CHUNK]]))
    for a in (H, rows):
        a.flags.writeable = False  # shared between reruns and sessions
    H_sq = np.einsum("ij,ij->i", H, H)
    H_sq.flags.writeable = False
    labels = np.asarray(y_train)[rows]
    return NeighbourIndex(H, H_sq, rows, labels)


@dataclass(frozen=True)
class Neighbours:
    rows: np.ndarray  # (k,) indices into the training images, nearest first
    labels: np.ndarray  # (k,)
    distances: np.ndarray  # (k,) Euclidean distance in A1 space


def nearest_neighbours(index: NeighbourIndex, net: Network, x, k: int = 8) -> Neighbours:
    """The k pooled images nearest to x by d_i = ||h - H_i||, with h = A1(x).

    ||h - H_i||^2 = ||h||^2 - 2 H_i . h + ||H_i||^2, so one matrix-vector product does them all.
    """
    h = first_hidden(net, as_rows(x))[0]
    d2 = index.H_sq - 2 * (index.H @ h) + h @ h  # (n, h) @ (h,) -> (n,)
    k = min(k, len(d2))
    top = np.argpartition(d2, k - 1)[:k]
    top = top[np.argsort(d2[top], kind="stable")]
    return Neighbours(index.rows[top], index.labels[top], np.sqrt(np.maximum(d2[top], 0)))


# --- a model on the whole test set ---------------------------------------------------------------


def unit_importance(A1_mean_abs: np.ndarray, W2: np.ndarray) -> np.ndarray:
    """importance_j = mean_i |A1_ij| * ||W2_j||: how much signal unit j passes on, on average."""
    return A1_mean_abs * np.linalg.norm(W2, axis=1)


@dataclass(frozen=True)
class ModelReport:
    """One model on the 10,000 test images, computed once and cached by the caller."""

    P: np.ndarray  # (n, 10) probabilities
    pred: np.ndarray  # (n,) argmax
    y: np.ndarray  # (n,) true digits
    confusion: np.ndarray  # (10, 10) C[true, predicted]
    accuracy: float
    per_class: np.ndarray  # (10,)
    importance: np.ndarray | None  # (h,) first-hidden-unit importance; None without hidden layer

    @property
    def mistakes(self) -> int:
        return int((self.pred != self.y).sum())

    @property
    def hardest_digit(self) -> int:
        return int(np.argmin(self.per_class))


def model_report(net: Network, X_test, y_test, batch: int = CHUNK) -> ModelReport:
    """Run the whole test set through the network (in batches) and summarise it."""
    y = np.asarray(y_test)
    P, A1_abs_sum = [], None
    for i in range(0, len(y), batch):
        trace = forward(net, as_float(X_test[i : i + batch]), keep=True)
        P.append(trace.P)
        if len(net.W) > 1:
            s = np.abs(trace.A[1]).sum(axis=0, dtype=np.float64)
            A1_abs_sum = s if A1_abs_sum is None else A1_abs_sum + s
    P = np.concatenate(P)
    pred = P.argmax(axis=1)
    scores = Scores(confusion_matrix(y, pred))  # the same counting as `python -m core.evaluate`
    importance = None if A1_abs_sum is None else unit_importance(A1_abs_sum / len(y), net.W[1])
    return ModelReport(P, pred, y, scores.confusion, scores.accuracy, scores.per_class, importance)


def cell_members(report: ModelReport, true: int, predicted: int) -> np.ndarray:
    """Indices of the test images in confusion cell (true, predicted), most confident first."""
    idx = np.flatnonzero((report.y == true) & (report.pred == predicted))
    return idx[np.argsort(-report.P[idx, predicted], kind="stable")]


def worst_confusion(C: np.ndarray) -> tuple[int, int]:
    """The (true, predicted) pair the network mixes up most: argmax of C off the diagonal."""
    off = np.where(np.eye(len(C), dtype=bool), -1, C)
    t, p = np.unravel_index(np.argmax(off), off.shape)
    return int(t), int(p)


def confident_mistakes(report: ModelReport, n: int = 16) -> np.ndarray:
    """The n wrongly read test images the network was surest about, surest first."""
    wrong = np.flatnonzero(report.pred != report.y)
    conf = report.P[wrong, report.pred[wrong]]
    return wrong[np.argsort(-conf, kind="stable")[:n]]


def receptive_fields(
    net: Network, importance: np.ndarray | None = None, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Column j of W1 seen as a 28x28 image, the pattern that excites hidden unit j.

    Returns (units, images (k, 28, 28)): the n most important units first when `importance`
    is given, else units in order. Our W1 is (784, h), the transpose of the article's, so a
    unit's weights are a column here.
    """
    W1 = net.W[0]
    units = np.arange(W1.shape[1]) if importance is None else np.argsort(-importance, kind="stable")
    units = units[:n]
    return units, W1[:, units].T.reshape(len(units), SIDE, SIDE)


@dataclass(frozen=True)
class Histogram:
    name: str  # "W1", "b1", ...
    counts: np.ndarray  # (bins,)
    edges: np.ndarray  # (bins + 1,)
    mean: float
    std: float


def weight_histograms(net: Network, bins: int = 60) -> list[Histogram]:
    """The distribution of every weight matrix W_l (article numbering), binned."""
    out = []
    for l, W in enumerate(net.W, start=1):
        counts, edges = np.histogram(W, bins=bins)
        out.append(Histogram(f"W{l}", counts, edges, float(W.mean()), float(W.std())))
    return out


# --- the data set --------------------------------------------------------------------------------


def class_counts(y, k: int = CLASSES) -> np.ndarray:
    """n_t = the number of images of digit t: (k,)."""
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=k)


def mean_images(X, y, k: int = CLASSES) -> np.ndarray:
    """M_t = the average image of digit t, in [0, 1]: (k, 28, 28)."""
    y = np.asarray(y)
    return np.stack(
        [as_float(X[y == t]).mean(axis=0, dtype=np.float64).reshape(SIDE, SIDE) for t in range(k)]
    ).astype(np.float32)


def samples_of(y, digit: int, n: int, seed: int = 0) -> np.ndarray:
    """n random indices of images of `digit` (fixed by seed), in index order."""
    idx = np.flatnonzero(np.asarray(y) == digit)
    pick = np.random.default_rng(seed).choice(len(idx), min(n, len(idx)), replace=False)
    return np.sort(idx[pick])


# --- the article's equations on one example ------------------------------------------------------


@dataclass
class Walkthrough:
    """Every quantity of one forward and backward pass, named as in the equations.

    Python lists count from 0: Z[0], W[0], dW[0] are the article's Z1, W1, dW1, and A[0] is the
    input X, so A[l] is the article's A_l. dA[l] is dL/dA_l (dA[0] is dL/dX). Rows are examples.
    """

    X: np.ndarray  # (m, 784)
    Y: np.ndarray  # (m, 10) one-hot labels
    labels: np.ndarray  # (m,)
    W: list[np.ndarray]  # (n_{l-1}, n_l), float64 copies
    b: list[np.ndarray]  # (n_l,)
    Z: list[np.ndarray]  # (m, n_l) pre-activations
    A: list[np.ndarray]  # (m, n_l); A[0] = X, A[-1] = P = softmax(Z_L)
    loss: float
    dZ: list[np.ndarray]  # (m, n_l)
    dW: list[np.ndarray]  # like W
    db: list[np.ndarray]  # like b
    dA: list[np.ndarray]  # (m, n_l) for l = 0 .. L-1
    activation: str

    @property
    def P(self) -> np.ndarray:
        return self.A[-1]

    @property
    def depth(self) -> int:
        return len(self.W)


def walkthrough(net: Network, x, label, forget_activation_derivative: bool = False) -> Walkthrough:
    """The article's forward and backward equations, one by one, in float64.

    The article keeps examples in columns (Z1 = W1 X + b1, W1 is (h, 784)); here rows are
    examples, so each product is its transpose: Z1 = X W1 + b1 with W1 (784, h), and
    dW1 = (1/m) dZ1 X^T in the article becomes (1/m) X^T dZ1. The numbers are the same;
    `article_view` turns them back into the article's orientation.
    `forget_activation_derivative` plants a classic bug (dZ_l = dA_l, no g'(Z_l)) so the
    gradient check has something to catch.
    """
    g, g_prime = activation_fns(net.activation)
    W = [w.astype(np.float64) for w in net.W]
    b = [c.astype(np.float64) for c in net.b]
    X = as_rows(x).astype(np.float64)
    labels = np.broadcast_to(np.asarray(label), (X.shape[0],)).astype(np.int64)
    Y = one_hot(labels, net.sizes[-1], dtype=np.float64)
    m, L = X.shape[0], len(W)

    # Forward: Z_l = A_{l-1} W_l + b_l, A_l = g(Z_l), and softmax at the last layer.
    Z, A = [], [X]
    for l in range(L):
        Z.append(A[l] @ W[l] + b[l])  # (m, n_{l-1}) @ (n_{l-1}, n_l) -> (m, n_l)
        A.append(softmax(Z[l]) if l == L - 1 else g(Z[l]))
    loss = cross_entropy(A[L], labels)

    # Backward. The article's dZ2 = A2 - Y (softmax and cross-entropy fused) with the 1/m in
    # dW and db; core.network.backward folds the 1/m into dZ instead. Same numbers.
    dZ, dW, db, dA = [None] * L, [None] * L, [None] * L, [None] * L
    dZ[L - 1] = A[L] - Y  # (m, 10)
    for l in range(L - 1, -1, -1):
        dW[l] = A[l].T @ dZ[l] / m  # (n_{l-1}, m) @ (m, n_l) -> (n_{l-1}, n_l)
        db[l] = dZ[l].sum(axis=0) / m  # (n_l,)
        dA[l] = dZ[l] @ W[l].T  # (m, n_l) @ (n_l, n_{l-1}) -> (m, n_{l-1})
        if l > 0:
            dZ[l - 1] = dA[l] if forget_activation_derivative else dA[l] * g_prime(Z[l - 1])
    return Walkthrough(X, Y, labels, W, b, Z, A, loss, dZ, dW, db, dA, net.activation)


@dataclass(frozen=True)
class ArticleView:
    """A walkthrough in the article's orientation: examples are columns.

    Every matrix is the transpose of the code's, so the article's equations hold as written:
    Z_l = W_l A_{l-1} + b_l, dZ_l = W_{l+1}^T dZ_{l+1} * g'(Z_l), dW_l = (1/m) dZ_l A_{l-1}^T,
    db_l = (1/m) sum over the columns of dZ_l. Lists count from 0 as in Walkthrough.
    """

    X: np.ndarray  # (784, m)
    Y: np.ndarray  # (10, m)
    W: list[np.ndarray]  # (n_l, n_{l-1}): row j holds the weights into unit j
    b: list[np.ndarray]  # (n_l, 1)
    Z: list[np.ndarray]  # (n_l, m)
    A: list[np.ndarray]  # (n_l, m); A[0] = X
    dZ: list[np.ndarray]  # (n_l, m)
    dW: list[np.ndarray]  # like W
    db: list[np.ndarray]  # like b


def article_view(walk: Walkthrough) -> ArticleView:
    """The same numbers as `walk`, transposed into the article's columns (copies nothing big)."""

    def col(v):
        return v.reshape(-1, 1)

    return ArticleView(
        X=walk.X.T,
        Y=walk.Y.T,
        W=[w.T for w in walk.W],
        b=[col(c) for c in walk.b],
        Z=[z.T for z in walk.Z],
        A=[a.T for a in walk.A],
        dZ=[d.T for d in walk.dZ],
        dW=[d.T for d in walk.dW],
        db=[col(c) for c in walk.db],
    )


@dataclass(frozen=True)
class Excerpt:
    """A few entries of a matrix, with the row and column numbers they came from."""

    rows: np.ndarray  # (r,) row indices
    cols: np.ndarray  # (c,) column indices
    values: np.ndarray  # (r, c)
    shape: tuple[int, ...]  # the whole matrix's shape


def excerpt(M, rows=None, cols=None, max_rows: int = 3, max_cols: int = 4) -> Excerpt:
    """A small block of M: the given rows/cols, or those holding the largest |entries|.

    A 784-row matrix is mostly blank pixels; picking the busiest rows and columns shows numbers
    that matter instead of zeros. Indices are returned in increasing order.
    """
    M = np.asarray(M)
    M2 = M.reshape(1, -1) if M.ndim == 1 else M
    if rows is None:
        rows = np.sort(np.argsort(-np.abs(M2).sum(axis=1), kind="stable")[:max_rows])
    if cols is None:
        cols = np.sort(np.argsort(-np.abs(M2[rows]).sum(axis=0), kind="stable")[:max_cols])
    rows, cols = np.asarray(rows), np.asarray(cols)
    return Excerpt(rows, cols, M2[np.ix_(rows, cols)], M.shape)


def focus_units(walk: Walkthrough, k_in: int = 3, k_out: int = 4) -> list[tuple]:
    """Which entries to show for each layer l: (inputs, units) index arrays, both sorted.

    Inputs are the k_in most active units of A_{l-1} (for W1: the inkiest pixels). Units are,
    in a hidden layer, the k_out/2 highest and k_out/2 lowest Z_l, so the page shows g at work
    on both signs; in the output layer, the likeliest digits plus the label.
    """
    out = []
    for l in range(walk.depth):
        inputs = np.sort(np.argsort(-np.abs(walk.A[l][0]), kind="stable")[:k_in])
        z = walk.Z[l][0]
        if l == walk.depth - 1:
            top = np.argsort(-walk.P[0], kind="stable")[: k_out - 1]
            units = np.union1d(top, walk.labels[:1])
        else:
            order = np.argsort(z, kind="stable")
            half = max(1, k_out // 2)
            units = np.union1d(order[:half], order[-half:])
        out.append((inputs, units))
    return out


@dataclass(frozen=True)
class StepDemo:
    """One gradient-descent step on one example, applied to a copy of the network."""

    lr: float
    label: int
    P_before: np.ndarray  # (10,)
    P_after: np.ndarray  # (10,)
    loss_before: float
    loss_after: float
    entry: tuple  # (layer, i, j, w, dw, w - lr dw) for the last layer's largest |dW| entry

    @property
    def p_before(self) -> float:
        return float(self.P_before[self.label])

    @property
    def p_after(self) -> float:
        return float(self.P_after[self.label])


def one_step(net: Network, x, label: int, lr: float) -> StepDemo:
    """W_l := W_l - alpha dW_l and b_l := b_l - alpha db_l on a copy; P(label) before and after."""
    walk = walkthrough(net, x, label)
    after = net.astype(np.float64)  # astype copies: the caller's network is never touched
    for l in range(walk.depth):
        after.W[l] -= lr * walk.dW[l]
        after.b[l] -= lr * walk.db[l]
    P_after = forward(after, walk.X)
    L = walk.depth - 1
    i, j = np.unravel_index(np.argmax(np.abs(walk.dW[L])), walk.dW[L].shape)
    entry = (L + 1, int(i), int(j), walk.W[L][i, j], walk.dW[L][i, j], after.W[L][i, j])
    return StepDemo(
        float(lr),
        int(label),
        walk.P[0],
        P_after[0],
        walk.loss,
        cross_entropy(P_after, [label]),
        tuple(float(v) if k > 2 else v for k, v in enumerate(entry)),
    )


@dataclass(frozen=True)
class GradCheckRow:
    layer: int  # the article's layer number: 1 is W1
    i: int  # row of W_l (input unit or pixel)
    j: int  # column of W_l (output unit)
    backprop: float  # dL/dW_l[i, j] from the backward pass
    numeric: float  # the same from central differences
    rel_error: float


def relative_error(a: float, b: float, floor: float = 1e-10) -> float:
    """|a - b| / max(|a| + |b|, floor): 0 when equal, 1 when exactly one of them is zero.

    The floor keeps two gradients that are both zero up to rounding from reading as "100% off".
    """
    return abs(a - b) / max(abs(a) + abs(b), floor)


def _loss64(W, b, activation: str, X, label: int) -> float:
    """L = log(1 + sum_{k != label} e^(Z_k - Z_label)) = -log softmax(Z)_label, in float64.

    Written around Z_label rather than as log-sum-exp minus Z_label: when the network is sure,
    L is tiny and the usual form would lose most of its digits to cancellation, which the
    finite differences below would then magnify.
    """
    g, _ = activation_fns(activation)
    A = X
    for l in range(len(W)):
        Z = A @ W[l] + b[l]  # (1, n_{l-1}) @ (n_{l-1}, n_l) -> (1, n_l)
        A = g(Z) if l < len(W) - 1 else Z
    d = np.delete(A[0] - A[0, label], label)  # Z_k - Z_label for the other digits
    top = d.max()
    if top <= 0:
        return float(np.log1p(np.exp(d).sum()))
    return float(top + np.log(np.exp(-top) + np.exp(d - top).sum()))


def numeric_gradient(W, b, activation: str, X, label: int, l: int, i: int, j: int, eps=1e-5):
    """dL/dW_l[i, j] ~ (L(w + eps) - L(w - eps)) / (2 eps), central differences; W is float64."""
    old = W[l][i, j]
    try:
        W[l][i, j] = old + eps
        up = _loss64(W, b, activation, X, label)
        W[l][i, j] = old - eps
        down = _loss64(W, b, activation, X, label)
    finally:
        W[l][i, j] = old
    return (up - down) / (2 * eps)


def gradient_check(
    net: Network,
    x,
    label: int,
    per_layer: int = 3,
    eps: float = 1e-5,
    seed: int = 0,
    dW: list[np.ndarray] | None = None,
) -> list[GradCheckRow]:
    """Backprop's dL/dW against central differences on a few weights of every layer.

    Weights fed by an input of exactly 0 have gradient 0 both ways and prove nothing, so only
    weights with a non-zero input are sampled. In the output layer the columns are those with
    the largest |dZ_L| (the label and the likeliest digits): the others have gradients so tiny
    that rounding in L(w + eps) - L(w - eps) would dominate. Hidden units alternate between ones
    the gradient flows through and silent ones (dZ = 0, a ReLU that did not fire): the first
    test the arithmetic, the second are where a missing g'(Z) shows. `dW` replaces the
    backward pass's gradients (to show that a wrong one is caught); by default they come from
    `walkthrough`.
    """
    walk = walkthrough(net, x, label)
    dW = walk.dW if dW is None else dW
    W = [w.copy() for w in walk.W]  # perturbed in place, one entry at a time
    rng = np.random.default_rng(seed)
    rows = []
    for l in range(walk.depth):
        live = np.flatnonzero(walk.A[l][0])
        if live.size == 0:
            continue
        passing = np.flatnonzero(walk.dZ[l][0])  # units the gradient flows through
        silent = np.flatnonzero(walk.dZ[l][0] == 0)  # e.g. ReLUs that did not fire
        for k in range(per_layer):
            i = int(rng.choice(live))
            if l == walk.depth - 1:
                units = np.argsort(-np.abs(walk.dZ[l][0]), kind="stable")[:3]
            elif (k % 2 == 0 and passing.size) or not silent.size:
                units = passing
            else:
                units = silent
            j = int(rng.choice(units))
            num = numeric_gradient(W, walk.b, walk.activation, walk.X, label, l, i, j, eps)
            bp = float(dW[l][i, j])
            rows.append(GradCheckRow(l + 1, i, j, bp, num, relative_error(bp, num)))
    return rows
