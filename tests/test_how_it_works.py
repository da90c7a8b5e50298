"""How it works in the article's own orientation: examples are columns, every equation's shapes
multiply out, the matrices shown have the shapes the equations give them, the notes are maths,
and "the article's network" runs the page on a 784-10-10 model, trained on first use."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import insight
from core.jobs import get_manager
from core.model_store import DEFAULT, list_models, load_model, save_model
from core.network import activation_fns, init_network
from core.preprocess import canvas_to_mnist
from tests.test_insight_pages import drawn_seven
from ui import article

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
TERM = re.compile(r"\\underbrace\{((?:[^{}]|\{[^{}]*\})*)\}_\{(\d+) \\times (\d+)\}")
EXCERPT = re.compile(r"^(?:\$\$\s*)?(\S+)\\ \\scriptstyle\((\d+) \\times (\d+)\)")


def open_how_it_works(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page("pages/how_it_works.py")
    return at.run()


def with_drawing() -> dict:
    rgba = drawn_seven()
    return {"drawing_rgba": rgba, "drawing_x28": canvas_to_mnist(rgba)}


def shapes_multiply_out(tex: str) -> tuple[dict, int]:
    """Check one equation: terms side by side multiply, and every product has the left side's
    shape. Returns ({name: shape} of its terms, how many products were checked)."""
    terms = list(TERM.finditer(tex))
    names = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in terms}
    if len(terms) < 2:
        return names, 0
    lhs = terms[0]
    assert tex[lhs.end() :].lstrip().startswith("="), tex
    target = (int(lhs.group(2)), int(lhs.group(3)))
    chains, chain = [], [terms[1]]
    for left, right in zip(terms[1:], terms[2:], strict=False):
        between = tex[left.end() : right.start()].replace(r"\,", "").strip()
        if between:
            chains.append(chain)
            chain = [right]
        else:
            chain.append(right)
    chains.append(chain)
    for chain in chains:
        shapes = [(int(m.group(2)), int(m.group(3))) for m in chain]
        for (_, cols), (rows, _) in zip(shapes, shapes[1:], strict=False):
            assert cols == rows, f"cannot multiply {shapes} in {tex}"
        assert (shapes[0][0], shapes[-1][1]) == target, f"{shapes} does not give {target}: {tex}"
    return names, len(chains)


def check_page_shapes(at: AppTest) -> dict:
    """Every equation on the page multiplies out, and every matrix excerpt has the shape its
    equations give it. Returns {name: shape}."""
    names, checked = {}, 0
    for e in at.latex:
        found, n = shapes_multiply_out(e.value)
        checked += n
        for name, shape in found.items():
            assert names.setdefault(name, shape) == shape, f"{name} has two shapes"
    excerpts = 0
    for e in at.latex:
        m = EXCERPT.match(e.value)
        if m and m.group(1) in names:
            excerpts += 1
            assert names[m.group(1)] == (int(m.group(2)), int(m.group(3))), e.value
    assert checked >= 4 and excerpts >= 4
    return names


# --- the maths, in columns ---------------------------------------------------------------------


@pytest.mark.parametrize("sizes, act", [([784, 10, 10], "relu"), ([784, 32, 24, 10], "tanh")])
def test_the_article_view_satisfies_the_articles_equations_as_written(sizes, act):
    net = init_network(sizes, act, np.random.default_rng(1))
    x = canvas_to_mnist(drawn_seven())
    walk = insight.walkthrough(net, x, 3)
    v = insight.article_view(walk)
    _, g_prime = activation_fns(act)
    L, m = walk.depth, 1
    assert v.X.shape == (784, 1) and v.W[0].shape == (sizes[1], 784)
    for l in range(L):
        np.testing.assert_allclose(v.Z[l], v.W[l] @ v.A[l] + v.b[l])  # Z_l = W_l A_{l-1} + b_l
        np.testing.assert_allclose(v.dW[l], v.dZ[l] @ v.A[l].T / m)  # dW_l = dZ_l A_{l-1}^T / m
        np.testing.assert_allclose(v.db[l], v.dZ[l].sum(axis=1, keepdims=True) / m)
    np.testing.assert_allclose(v.dZ[L - 1], v.A[L] - v.Y)  # dZ_L = A_L - Y
    for l in range(L - 1):  # dZ_l = W_{l+1}^T dZ_{l+1} * g'(Z_l)
        np.testing.assert_allclose(v.dZ[l], (v.W[l + 1].T @ v.dZ[l + 1]) * g_prime(v.Z[l]))


# --- the page ------------------------------------------------------------------------------------


def test_every_equation_on_the_page_multiplies_out_with_the_shapes_beside_it(shipped_model):
    at = open_how_it_works(**with_drawing())
    assert not at.exception
    names = check_page_shapes(at)
    n1 = shipped_model.net.sizes[1]
    assert names["W_1"] == (n1, 784) and names["X"] == (784, 1) and names["Z_1"] == (n1, 1)
    assert names["X^T"] == (1, 784) and names["dW_1"] == (n1, 784)


def test_a_deeper_tanh_network_multiplies_out_too_and_its_notes_are_maths(weights_tmp):
    net = init_network([784, 32, 24, 16, 10], "tanh", np.random.default_rng(0))
    save_model(DEFAULT, net, allow_default=True, directory=weights_tmp)
    at = open_how_it_works(**with_drawing())
    assert not at.exception
    names = check_page_shapes(at)
    assert names["W_4"] == (10, 16) and names["W_4^T"] == (16, 10)
    notes = " ".join(i.value for i in at.info)
    assert r"$Z_l = W_l A_{l-1} + b_l$" in notes
    assert r"$dZ_l = W_{l+1}^T\, dZ_{l+1} \ast g'(Z_l)$" in notes
    assert r"$\tanh$" in notes


def test_the_explanation_is_on_the_page_not_in_a_collapsed_box(shipped_model):
    at = open_how_it_works(**with_drawing())
    assert not at.expander
    body = " ".join(m.value for m in at.markdown)
    assert r"$Z_1 = W_1 X + b_1$" in body and "**columns**" in body


def test_the_one_step_entry_is_indexed_as_the_article_writes_w(shipped_model):
    state = with_drawing()
    at = open_how_it_works(**state)
    [tex] = [e.value for e in at.latex if ":=" in e.value and "[" in e.value]
    layer, row, col = map(int, re.search(r"W_(\d+)\[(\d+),(\d+)\]", tex).groups())
    walk = insight.walkthrough(shipped_model.net, state["drawing_x28"], at.selectbox[0].value)
    v = insight.article_view(walk)
    # The entry named is the largest |dW| of the last layer, read in the article's orientation.
    dW = np.abs(v.dW[layer - 1])
    assert layer == walk.depth and (row, col) == np.unravel_index(dW.argmax(), dW.shape)


def save_article_net(weights, sizes=(784, 10, 10)):
    net = init_network(list(sizes), "relu", np.random.default_rng(2))
    save_model("article", net, directory=weights)


def test_the_article_switch_runs_the_page_on_the_saved_784_10_10_network(app_weights_dir):
    save_article_net(app_weights_dir)
    at = open_how_it_works(**with_drawing())
    at.toggle(key="hiw_article").set_value(True).run()
    assert not at.exception and not at.error
    names = check_page_shapes(at)
    assert names["W_1"] == (10, 784) and names["X"] == (784, 1)
    assert names["W_2"] == (10, 10) and names["Z_2"] == (10, 1)
    assert any("**article**, 784-10-10" in c.value for c in at.caption)
    assert not get_manager().views(kind=article.ARTICLE_JOB)  # nothing to train


def test_a_model_called_article_that_is_not_784_10_10_is_explained(app_weights_dir):
    save_article_net(app_weights_dir, sizes=(784, 16, 10))
    at = open_how_it_works(**with_drawing())
    at.toggle(key="hiw_article").set_value(True).run()
    assert not at.exception
    assert "784-16-10, not the article's 784-10-10" in at.error[0].value


@pytest.mark.mnist
def test_the_articles_network_is_trained_on_first_use_then_saved_and_reused(
    mnist, app_weights_dir, monkeypatch
):
    # The real recipe takes about a minute; a short run of the same job proves the path.
    short = article.article_config().__class__(
        **{**article.article_config().to_dict(), "hidden": (10,), "epochs": 3, "train_size": 2000}
    )
    monkeypatch.setattr(article, "article_config", lambda: short)
    at = open_how_it_works(**with_drawing())
    at.toggle(key="hiw_article").set_value(True).run()
    assert not at.exception
    assert "training now" in at.info[0].value
    [view] = get_manager().views(kind=article.ARTICLE_JOB)
    assert view.meta["preset"] == "seed"
    assert get_manager().wait(view.id, 120).status == "done"
    at.run()
    assert not at.exception and not at.error
    assert "article" in list_models()
    saved = load_model("article")
    assert saved.net.sizes == [784, 10, 10] and saved.meta["config"]["epochs"] == 3
    assert check_page_shapes(at)["W_1"] == (10, 784)
    assert not get_manager().views(kind=article.ARTICLE_JOB)  # the job is done with
    at.run()  # and later runs reuse the saved model
    assert not get_manager().views(kind=article.ARTICLE_JOB)


@pytest.fixture
def app_weights_dir(weights_tmp, shipped_model):
    """A temp weights folder with the shipped default in it; jobs are forgotten afterwards."""
    save_model(DEFAULT, shipped_model.net, allow_default=True, directory=weights_tmp)
    yield weights_tmp
    manager = get_manager()
    for view in manager.views():
        manager.forget(view.id, view.owner)


def test_the_article_switch_stays_on_after_a_visit_to_another_page(app_weights_dir):
    save_article_net(app_weights_dir)
    at = open_how_it_works(**with_drawing())
    at.toggle(key="hiw_article").set_value(True).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/how_it_works.py").run()
    assert not at.exception
    assert at.toggle(key="hiw_article").value is True
    assert any("**article**, 784-10-10" in c.value for c in at.caption)
