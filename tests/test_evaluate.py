"""The evaluation CLI and its confusion matrix, checked against direct counting."""

import numpy as np

from core import evaluate as E
from core.model_store import save_model
from core.network import init_network


def test_confusion_matrix_counts_each_pair_once():
    C = E.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], k=3)
    assert C.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    s = E.Scores(C)
    assert s.n == 6 and s.accuracy == 4 / 6
    np.testing.assert_allclose(s.per_class, [0.5, 1.0, 2 / 3])


def test_score_agrees_with_predict_for_uint8_images():
    rng = np.random.default_rng(0)
    net = init_network([784, 16, 10], "relu", rng)
    X = rng.integers(0, 256, (50, 784)).astype(np.uint8)
    y = rng.integers(0, 10, 50)
    s = E.score(net, X, y)
    assert s.accuracy == np.mean(net.predict(X.astype(np.float32) / 255) == y)


def test_the_cli_prints_accuracy_and_the_confusion_matrix(mnist, weights_tmp, capsys):
    net = init_network([784, 8, 10], "relu", np.random.default_rng(0))
    save_model("tiny", net)
    assert E.main(["tiny"]) == 0
    out = capsys.readouterr().out
    assert "Test accuracy:" in out and "Confusion matrix" in out and "/10000)" in out


def test_the_cli_explains_a_missing_model(weights_tmp, capsys):
    assert E.main(["nothing_here"]) == 2
    assert "No model called 'nothing_here'" in capsys.readouterr().err
