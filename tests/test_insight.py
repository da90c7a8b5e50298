"""The "see inside" maths against independent oracles: finite differences, the engine's own
backward pass, brute-force counting and distances, and the real MNIST test set."""

import numpy as np
import pytest

from core import insight
from core.network import backward, forward, init_network, one_hot
from core.train import evaluate


def _image(seed=0):
    """A digit-like 28x28 image: a bright blob of strokes with blank margins, in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = np.zeros((28, 28))
    x[6:22, 9:19] = rng.random((16, 10))
    return x


def _net(activation="tanh", hidden=(12,), seed=0):
    return init_network(
        [784, *hidden, 10], activation, np.random.default_rng(seed), "auto", np.float64
    )


def _p(net, x, c):
    return forward(net, x.reshape(1, 784))[0, c]


# --- one drawing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_saliency_matches_finite_differences_on_a_few_pixels(activation):
    net = _net(activation, hidden=(16, 12), seed=1)
    x = _image(1)
    c = 3
    S = insight.saliency(net, x, c)
    assert S.shape == (28, 28)
    h = 1e-6
    for r, col in [(10, 12), (14, 14), (20, 17), (3, 3), (7, 10)]:
        up, down = x.copy(), x.copy()
        up[r, col] += h
        down[r, col] -= h
        fd = (_p(net, up, c) - _p(net, down, c)) / (2 * h)
        assert S[r, col] == pytest.approx(fd, rel=1e-5, abs=1e-10)


def test_gradient_times_input_is_saliency_where_there_is_ink_and_zero_elsewhere():
    net = _net()
    x = _image(2)
    S, G = insight.saliency(net, x, 5), insight.gradient_times_input(net, x, 5)
    np.testing.assert_allclose(G, x * S)
    assert (G[x == 0] == 0).all() and (S[x == 0] != 0).any()


def test_hidden_activations_are_the_forward_pass_hidden_layers():
    net = _net("relu", hidden=(20, 16, 12), seed=3)
    x = _image(3)
    layers = insight.hidden_activations(net, x)
    trace = forward(net, x.reshape(1, 784), keep=True)
    assert [a.shape for a in layers] == [(20,), (16,), (12,)]
    for a, A in zip(layers, trace.A[1:-1], strict=True):
        np.testing.assert_array_equal(a, A[0])


def test_a_network_without_hidden_layers_has_no_activations_and_uses_pixel_space():
    net = init_network([784, 10], "relu", np.random.default_rng(0))
    x = _image(4)
    assert insight.hidden_activations(net, x) == []
    np.testing.assert_array_equal(insight.first_hidden(net, x.reshape(1, 784)), x.reshape(1, 784))


def test_read_digit_reports_the_argmax_and_its_probability():
    net = _net()
    r = insight.read_digit(net, _image(5))
    assert r.digit == int(r.P.argmax()) and r.confidence == pytest.approx(r.P.max())
    assert r.P.sum() == pytest.approx(1.0)


# --- nearest neighbours --------------------------------------------------------------------------


def test_nearest_neighbours_agree_with_brute_force_distances():
    rng = np.random.default_rng(6)
    net = init_network([784, 32, 10], "relu", rng)
    X = (rng.random((500, 784)) * 255).astype(np.uint8)
    y = rng.integers(0, 10, 500).astype(np.uint8)
    index = insight.build_neighbour_index(net, X, y, pool=300, seed=1)
    assert len(index.rows) == 300 and len(set(index.rows.tolist())) == 300
    x = rng.random(784).astype(np.float32)
    nb = insight.nearest_neighbours(index, net, x, k=5)
    H = insight.first_hidden(net, X[index.rows].astype(np.float32) / 255)
    h = insight.first_hidden(net, x.reshape(1, 784))[0]
    brute = np.sqrt(((H - h) ** 2).sum(axis=1))
    best = np.argsort(brute)[:5]
    np.testing.assert_array_equal(nb.rows, index.rows[best])
    np.testing.assert_allclose(nb.distances, brute[best], rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(nb.labels, y[nb.rows])


@pytest.mark.mnist
def test_a_pooled_training_image_is_its_own_nearest_neighbour(mnist, shipped_model):
    x_train, y_train, _, _ = mnist
    net = shipped_model.net
    index = insight.build_neighbour_index(net, x_train, y_train)
    assert len(index.rows) == insight.NEIGHBOUR_POOL
    row = int(index.rows[123])
    nb = insight.nearest_neighbours(index, net, x_train[row] / 255, k=3)
    assert nb.rows[0] == row and nb.distances[0] < 1e-2
    assert nb.labels[0] == y_train[row]


# --- a model on the test set ---------------------------------------------------------------------


@pytest.mark.mnist
def test_confusion_matrix_sums_to_10000_and_its_diagonal_matches_the_reported_accuracy(
    mnist, shipped_model
):
    _, _, x_test, y_test = mnist
    report = insight.model_report(shipped_model.net, x_test, y_test)
    C = report.confusion
    assert C.shape == (10, 10) and C.sum() == 10_000
    np.testing.assert_array_equal(C.sum(axis=1), np.bincount(y_test, minlength=10))
    _, acc = evaluate(shipped_model.net, x_test.astype(np.float32) / 255, y_test)
    assert np.trace(C) / 10_000 == pytest.approx(acc, abs=1e-12)
    assert report.accuracy == pytest.approx(acc, abs=1e-12)
    if shipped_model.test_acc is not None:  # what training reported when it saved the model
        assert report.accuracy == pytest.approx(shipped_model.test_acc, abs=2e-4)
    np.testing.assert_allclose(report.per_class, np.diag(C) / C.sum(axis=1))
    assert report.mistakes == 10_000 - np.trace(C)


@pytest.mark.mnist
def test_each_confusion_cell_lists_exactly_its_test_images(mnist, shipped_model):
    _, _, x_test, y_test = mnist
    report = insight.model_report(shipped_model.net, x_test, y_test)
    worst = insight.worst_confusion(report.confusion)
    assert worst[0] != worst[1]
    assert report.confusion[worst] == report.confusion[~np.eye(10, dtype=bool)].max()
    for t, p in [worst, (3, 3), (0, 6)]:
        members = insight.cell_members(report, t, p)
        assert len(members) == report.confusion[t, p]
        assert (y_test[members] == t).all() and (report.pred[members] == p).all()


def test_confident_mistakes_are_wrong_and_surest_first():
    rng = np.random.default_rng(7)
    P = rng.dirichlet(np.ones(10), 200)
    y = rng.integers(0, 10, 200)
    pred = P.argmax(axis=1)
    C = np.zeros((10, 10), int)
    np.add.at(C, (y, pred), 1)
    report = insight.ModelReport(P, pred, y, C, 0.0, np.zeros(10), None)
    idx = insight.confident_mistakes(report, 15)
    assert len(idx) == 15 and (pred[idx] != y[idx]).all()
    conf = P[idx, pred[idx]]
    assert (np.diff(conf) <= 0).all()
    wrong = pred != y
    assert conf[0] == P[wrong].max(axis=1).max()


def test_model_report_importance_is_mean_activation_times_outgoing_weight_norm():
    rng = np.random.default_rng(8)
    net = init_network([784, 24, 10], "relu", rng)
    X = (rng.random((300, 784)) * 255).astype(np.uint8)
    y = rng.integers(0, 10, 300)
    report = insight.model_report(net, X, y, batch=128)
    A1 = forward(net, X.astype(np.float32) / 255, keep=True).A[1]
    expected = np.abs(A1).mean(axis=0) * np.linalg.norm(net.W[1], axis=1)
    np.testing.assert_allclose(report.importance, expected, rtol=1e-5)
    units, fields = insight.receptive_fields(net, report.importance, 5)
    np.testing.assert_array_equal(units, np.argsort(-expected)[:5])
    for u, field in zip(units, fields, strict=True):
        np.testing.assert_array_equal(field.ravel(), net.W[0][:, u])


def test_weight_histograms_count_every_weight_of_every_layer():
    net = _net("relu", hidden=(30, 20))
    hists = insight.weight_histograms(net, bins=17)
    assert [h.name for h in hists] == ["W1", "W2", "W3"]
    for h, W in zip(hists, net.W, strict=True):
        assert h.counts.sum() == W.size and len(h.edges) == 18
        assert h.edges[0] == W.min() and h.edges[-1] == W.max()


# --- the data set --------------------------------------------------------------------------------


def test_class_counts_mean_images_and_samples_agree_with_direct_computation():
    rng = np.random.default_rng(9)
    X = (rng.random((400, 784)) * 255).astype(np.uint8)
    y = rng.integers(0, 10, 400).astype(np.uint8)
    counts = insight.class_counts(y)
    assert counts.sum() == 400 and counts[4] == (y == 4).sum()
    means = insight.mean_images(X, y)
    assert means.shape == (10, 28, 28)
    np.testing.assert_allclose(means[4].ravel(), X[y == 4].mean(axis=0) / 255, rtol=1e-5)
    picks = insight.samples_of(y, 4, 7, seed=3)
    assert len(picks) == 7 and (y[picks] == 4).all()
    np.testing.assert_array_equal(picks, insight.samples_of(y, 4, 7, seed=3))


# --- the article's equations on one example ------------------------------------------------------


@pytest.mark.parametrize(
    "activation,hidden", [("relu", (10,)), ("tanh", (16, 12)), ("leaky_relu", (8, 8, 8, 8))]
)
def test_walkthrough_gradients_match_the_engines_backward_pass(activation, hidden):
    net = _net(activation, hidden, seed=10)
    x = _image(10)
    walk = insight.walkthrough(net, x, 7)
    trace = forward(net, x.reshape(1, 784), keep=True)
    grads = backward(net, trace, one_hot([7], 10, np.float64))
    assert walk.depth == len(hidden) + 1
    for l in range(walk.depth):
        np.testing.assert_allclose(walk.Z[l], trace.Z[l], rtol=1e-12)
        np.testing.assert_allclose(walk.dW[l], grads.W[l], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(walk.db[l], grads.b[l], rtol=1e-10, atol=1e-15)
    assert walk.loss == pytest.approx(-np.log(trace.P[0, 7]))
    np.testing.assert_allclose(walk.dZ[-1], walk.P - walk.Y)  # the article's dZ2 = A2 - Y


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_gradient_check_reports_small_errors_for_a_correct_network(activation):
    net = _net(activation, hidden=(16, 12), seed=11)
    rows = insight.gradient_check(net, _image(11), 4, per_layer=4)
    assert len(rows) == 12 and {r.layer for r in rows} == {1, 2, 3}
    assert max(r.rel_error for r in rows) < 1e-6
    assert any(abs(r.backprop) > 1e-4 for r in rows)  # not a check of zeros against zeros


def test_the_gradient_check_reports_a_large_error_when_a_gradient_is_perturbed():
    net = _net("tanh", hidden=(16,), seed=12)
    x = _image(12)
    good = insight.gradient_check(net, x, 2, per_layer=3, seed=5)
    target = max(good, key=lambda r: abs(r.backprop))
    dW = [g.copy() for g in insight.walkthrough(net, x, 2).dW]
    dW[target.layer - 1][target.i, target.j] *= 1.1
    bad = insight.gradient_check(net, x, 2, per_layer=3, seed=5, dW=dW)
    errors = {(r.layer, r.i, r.j): r.rel_error for r in bad}
    assert errors[(target.layer, target.i, target.j)] > 1e-2
    assert sorted(errors.values())[-2] < 1e-6  # only the perturbed weight is flagged


def test_the_gradient_check_catches_a_forgotten_activation_derivative():
    net = _net("sigmoid", hidden=(16,), seed=13)
    x = _image(13)
    buggy = insight.walkthrough(net, x, 6, forget_activation_derivative=True).dW
    rows = insight.gradient_check(net, x, 6, per_layer=3, dW=buggy)
    assert max(r.rel_error for r in rows if r.layer == 1) > 1e-2
    assert max(r.rel_error for r in rows if r.layer == 2) < 1e-6  # the top layer has no g'


@pytest.mark.parametrize("label", [0, 3, 8])
def test_one_step_raises_the_chosen_labels_probability_for_a_small_learning_rate(label):
    net = _net("relu", hidden=(32,), seed=14)
    before = [w.copy() for w in net.W] + [c.copy() for c in net.b]
    demo = insight.one_step(net, _image(14), label, lr=0.01)
    assert demo.p_after > demo.p_before
    assert demo.loss_after < demo.loss_before
    for a, b in zip(before, net.W + net.b, strict=True):
        np.testing.assert_array_equal(a, b)  # applied to a copy only


def test_one_step_moves_a_weight_by_minus_the_learning_rate_times_its_gradient():
    net = _net("relu", hidden=(32,), seed=15)
    walk = insight.walkthrough(net, _image(15), 1)
    layer, i, j, w, dw, w_new = insight.one_step(net, _image(15), 1, lr=0.5).entry
    assert layer == 2 and abs(dw) == np.abs(walk.dW[1]).max()
    assert w == net.W[1][i, j] and w_new == pytest.approx(w - 0.5 * dw)


def test_excerpt_shows_the_busiest_rows_and_columns():
    M = np.zeros((784, 6))
    M[400, 2], M[401, 5], M[10, 2] = 5.0, -4.0, 1.0
    ex = insight.excerpt(M, max_rows=2, max_cols=2)
    assert ex.rows.tolist() == [400, 401] and ex.cols.tolist() == [2, 5]
    np.testing.assert_array_equal(ex.values, [[5.0, 0.0], [0.0, -4.0]])
    v = insight.excerpt(np.arange(10.0), cols=[1, 3])
    assert v.values.tolist() == [[1.0, 3.0]] and v.shape == (10,)


def test_focus_units_include_the_label_and_both_signs_of_hidden_pre_activations():
    net = _net("tanh", hidden=(16,), seed=16)
    walk = insight.walkthrough(net, _image(16), 9)
    (inputs, units), (inputs2, digits) = insight.focus_units(walk)
    assert 9 in digits and int(walk.P.argmax()) in digits
    z = walk.Z[0][0, units]
    assert z.min() < 0 < z.max()
    assert (walk.X[0, inputs] > 0).all()


def test_fingerprint_changes_when_any_weight_changes():
    net = _net()
    same = net.copy()
    assert insight.fingerprint(net) == insight.fingerprint(same)
    same.b[-1][3] += 1e-9
    assert insight.fingerprint(net) != insight.fingerprint(same)
