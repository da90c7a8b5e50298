"""Fine-tuning: the split, the replay, the generator protocol, saving, and the real thing on
digits drawn by code in styles MNIST lacks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

from core.finetune import (
    MIN_FOR_HOLDOUT,
    FinetuneConfig,
    PersonalData,
    Replay,
    before_after_rows,
    finetune,
    save_finetuned,
    split_heldout,
)
from core.model_store import Model, load_model
from core.network import init_network
from core.personal import PersonalSet
from core.train import Control, preset, train
from tests.conftest import toy_dataset


def keys(n: int) -> list[str]:
    return [f"{k:064x}" for k in range(n)]


# --- the held-out split and the replay -------------------------------------------------------


def test_nothing_is_held_out_from_a_small_set():
    y = np.arange(MIN_FOR_HOLDOUT - 1) % 10
    train_idx, held_idx = split_heldout(keys(len(y)), y)
    assert list(train_idx) == list(range(len(y))) and len(held_idx) == 0


def test_a_quarter_of_each_digit_is_held_out_and_each_keeps_one_to_learn_from():
    y = np.array([3] * 40 + [5] * 12 + [8] * 2 + [9] * 1)
    train_idx, held_idx = split_heldout(keys(len(y)), y, share=0.25)
    assert sorted([*train_idx, *held_idx]) == list(range(len(y)))
    held = np.bincount(y[held_idx], minlength=10)
    assert (held[3], held[5], held[8], held[9]) == (10, 3, 1, 0)
    assert set(y[train_idx]) == {3, 5, 8, 9}


def test_the_split_does_not_depend_on_the_order_of_the_examples():
    y = np.arange(40) % 4
    k = keys(40)
    _, held = split_heldout(k, y)
    order = np.random.default_rng(0).permutation(40)
    _, held_shuffled = split_heldout([k[i] for i in order], y[order])
    assert {k[i] for i in held} == {k[order[i]] for i in held_shuffled}


def test_replay_fills_the_batch_so_each_digit_keeps_its_mnist_share():
    y_mnist = np.repeat(np.arange(10), 100).astype(np.uint8)
    replay = Replay(y_mnist)
    personal_y = np.zeros(16, dtype=np.uint8)  # a batch of 128 with 16 personal zeros
    rng = np.random.default_rng(0)
    batches = [replay.sample(personal_y, 128, rng) for _ in range(500)]
    assert {len(idx) for idx in batches} == {112}
    counts = np.bincount(y_mnist[np.concatenate(batches)], minlength=10)
    assert counts[0] == 0  # the batch has its zeros already
    np.testing.assert_allclose(counts[1:] / counts.sum(), 1 / 9, rtol=0.05)  # the rest share


# --- the generator -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_setup():
    data = toy_dataset(seed=0)
    control = Control()
    for _ in train(preset("quick", hidden=(32,), epochs=2, val_size=0), data, control):
        pass
    pick = np.concatenate([np.flatnonzero(data.y_test == d)[:4] for d in range(10)])  # 4 each
    rng = np.random.default_rng(1)
    X = np.clip(data.X_test[pick] + 0.05 * rng.standard_normal((40, 784)), 0, 1)
    personal = PersonalData(X.astype(np.float32), data.y_test[pick], keys(40))
    return control.net, personal, data


def test_finetuning_follows_the_training_protocol(toy_setup):
    base, personal, data = toy_setup
    events = list(finetune(base, personal, FinetuneConfig(steps=30, eval_every=10), data))
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("epoch") == 3 and kinds.count("step") == 3
    start, done = events[0], events[-1]
    assert start["n_personal"] == 40 and start["n_heldout"] == 10
    assert start["measured_on"] == "held-out" and start["total_steps"] == 30
    assert done["step"] == 30 and not done["stopped"]
    for part in ("before", "after"):
        assert set(done[part]) >= {"personal_acc", "mnist_acc", "personal_n", "mnist_n"}
    assert done["before"] == start["before"]
    rows = before_after_rows(done)
    assert [r["before"] for r in rows] == [
        done["before"]["personal_acc"],
        done["before"]["mnist_acc"],
    ]


def test_finetuning_leaves_the_base_network_untouched(toy_setup):
    base, personal, data = toy_setup
    W0 = [w.copy() for w in base.W]
    control = Control()
    for _ in finetune(base, personal, FinetuneConfig(steps=20), data, control):
        pass
    assert all(np.array_equal(a, b) for a, b in zip(W0, base.W, strict=True))
    assert not np.array_equal(control.net.W[0], base.W[0])


def test_the_same_seed_gives_the_same_fine_tuned_network(toy_setup):
    base, personal, data = toy_setup
    nets = []
    for _ in range(2):
        control = Control()
        for _ in finetune(base, personal, FinetuneConfig(steps=15, seed=3), data, control):
            pass
        nets.append(control.net)
    assert all(np.array_equal(a, b) for a, b in zip(nets[0].W, nets[1].W, strict=True))


def test_a_stopped_finetune_still_reports_before_and_after(toy_setup):
    base, personal, data = toy_setup
    control = Control()
    gen = finetune(base, personal, FinetuneConfig(steps=1000, log_every=1), data, control)
    first = list(itertools.islice(gen, 3))
    control.stop()
    rest = list(gen)
    assert first[0]["kind"] == "start"
    done = rest[-1]
    assert done["kind"] == "done" and done["stopped"] and done["step"] == 2
    assert "before" in done and "after" in done


def test_a_small_set_is_measured_on_the_examples_it_learns_from(toy_setup):
    base, personal, data = toy_setup
    small = PersonalData(personal.X[:8], personal.y[:8], personal.keys[:8])
    events = list(finetune(base, small, FinetuneConfig(steps=5), data))
    assert events[-1]["measured_on"] == "training examples"
    assert events[-1]["after"]["personal_n"] == 8


def test_an_empty_personal_set_is_refused_with_a_hint(toy_setup):
    base, _, data = toy_setup
    empty = PersonalData(np.zeros((0, 784), np.float32), np.zeros(0, np.uint8), [])
    with pytest.raises(ValueError, match="draw and label"):
        next(finetune(base, empty, data=data))


def test_an_exploding_learning_rate_is_reported_as_divergence():
    data = toy_dataset(seed=0)
    base = init_network([784, 32, 10], "relu", np.random.default_rng(0))
    personal = PersonalData(data.X_test[:30], data.y_test[:30], keys(30))
    config = FinetuneConfig(steps=200, lr=1.0, personal_share=1.0)
    events = list(finetune(base, personal, config, data))
    assert events[-1]["kind"] == "diverged"
    assert "learning rate" in events[-1]["reason"]


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(steps=0), "steps"),
        (dict(lr=0), "learning rate"),
        (dict(lr=float("nan")), "learning rate"),
        (dict(personal_share=0), "personal share"),
        (dict(holdout=0.9), "held-out"),
        (dict(augment="wobble"), "augment"),
        (dict(batch_size=1), "batch size"),
    ],
)
def test_a_bad_setting_is_refused_in_plain_words(bad, words):
    with pytest.raises(ValueError, match=words):
        FinetuneConfig(**bad)


# --- saving ------------------------------------------------------------------------------------


def test_the_result_is_saved_as_a_new_model_that_names_its_base(toy_setup, weights_tmp):
    base_net, personal, data = toy_setup
    base = Model("default", base_net, {"config": preset("quick").to_dict()})
    config = FinetuneConfig(steps=10)
    control = Control()
    done = list(finetune(base_net, personal, config, data, control))[-1]
    save_finetuned("my-hand", control.net, base, config, done)
    model = load_model("my-hand")
    ft = model.meta["finetune"]
    assert ft["base_model"] == "default" and ft["personal_set_size"] == 40
    assert ft["heldout_size"] == 10 and ft["config"] == config.to_dict()
    assert model.test_acc == done["test_acc"]
    assert all(np.array_equal(a, b) for a, b in zip(model.net.W, control.net.W, strict=True))
    with pytest.raises(ValueError, match="default"):
        save_finetuned("default", control.net, base, config, done)
    with pytest.raises(FileExistsError):
        save_finetuned("my-hand", control.net, base, config, done)
    with pytest.raises(ValueError, match="Model names use letters"):
        save_finetuned("../evil", control.net, base, config, done)
    assert [p.name for p in weights_tmp.glob("my-hand*")] == ["my-hand.npz"]  # one file


# --- the real thing: digits drawn by code in styles MNIST lacks -------------------------------

SIDE = 280  # the app's canvas
SUPERSAMPLE = 4  # drawn 4x larger and area-averaged down, anti-aliased like a browser canvas


def _ellipse(cx, cy, rx, ry, n=24):
    t = np.linspace(0, 2 * np.pi, n + 1)
    return [(cx + rx * np.sin(a), cy - ry * np.cos(a)) for a in t]


# Stroke templates in a box about 1 tall (x right, y down). The model reads crossed 7s well
# already (MNIST has some), but a slashed zero reads as 8 and a 1 with a long flag as 7 or 9.
STYLES = {
    "slashed 0": (0, [_ellipse(0.3, 0.5, 0.3, 0.5), [(0.6, 0.0), (0.0, 1.0)]]),
    "1 with a long flag": (1, [[(0.0, 0.35), (0.35, 0.0), (0.35, 1.0)]]),
    "crossed 7": (7, [[(0.0, 0.05), (0.6, 0.0), (0.2, 1.0)], [(0.12, 0.52), (0.62, 0.48)]]),
}


def draw_digit(strokes, rng: np.random.Generator) -> np.ndarray:
    """Strokes drawn with a round pen at a random size, place, slant and width on the 280x280
    canvas -> (280, 280, 4) uint8, white ink on black, as the Draw page's canvas returns it."""
    pen = rng.uniform(12, 30)
    height = rng.uniform(0.4, 0.8) * SIDE
    slant, aspect = rng.uniform(-0.15, 0.15), rng.uniform(0.85, 1.2)
    pts = [
        [(x * aspect + slant * (1 - y), y) + rng.normal(0, 0.02, 2) for x, y in s] for s in strokes
    ]
    flat = np.array([p for s in pts for p in s])
    lo, hi = flat.min(0), flat.max(0)
    scale = height / (hi[1] - lo[1])
    margin = pen / 2 + 2
    ox = rng.uniform(margin, SIDE - margin - (hi[0] - lo[0]) * scale)
    oy = rng.uniform(margin, SIDE - margin - height)
    img = Image.new("L", (SIDE * SUPERSAMPLE, SIDE * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(img)
    r = pen * SUPERSAMPLE / 2
    for s in pts:
        xy = [
            (((x - lo[0]) * scale + ox) * SUPERSAMPLE, ((y - lo[1]) * scale + oy) * SUPERSAMPLE)
            for x, y in s
        ]
        draw.line(xy, fill=255, width=int(2 * r), joint="curve")
        for x, y in xy:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    ink = np.asarray(img.resize((SIDE, SIDE), Image.Resampling.BOX))
    return np.dstack([ink, ink, ink, np.full_like(ink, 255)])


def drawn_set(per_style: int, seed: int):
    """(canvases, x28 inputs, labels) for every style."""
    from core.preprocess import canvas_to_mnist

    rng = np.random.default_rng(seed)
    canvases, labels = [], []
    for label, strokes in STYLES.values():
        for _ in range(per_style):
            canvases.append(draw_digit(strokes, rng))
            labels.append(label)
    x28 = [canvas_to_mnist(c) for c in canvases]
    return canvases, x28, np.array(labels, dtype=np.uint8)


@pytest.mark.mnist
def test_finetuning_learns_a_drawn_style_mnist_lacks_and_keeps_mnist(
    mnist, tmp_path, shipped_model
):
    base = shipped_model
    store = PersonalSet(tmp_path / "personal")
    canvases, x28, labels = drawn_set(per_style=30, seed=5)
    for c, x, label in zip(canvases, x28, labels, strict=True):
        store.add(x, int(label), canvas=c, source="code", model=base.name)
    personal = PersonalData.from_store(store)
    assert len(personal.y) == 90

    control = Control()
    events = list(finetune(base.net, personal, FinetuneConfig(), control=control))
    done = events[-1]
    assert done["kind"] == "done" and done["measured_on"] == "held-out"
    before, after = done["before"], done["after"]
    assert after["personal_n"] == 24

    # Held-out drawings of these styles: the base model misreads many, the tuned one few.
    assert before["personal_acc"] < 0.85, "the base model already reads these styles"
    assert after["personal_acc"] >= before["personal_acc"] + 0.15
    assert after["personal_acc"] >= 0.95
    # A fresh batch of the same styles, never stored, agrees.
    _, fresh_x28, fresh_y = drawn_set(per_style=100, seed=99)
    X = np.stack(fresh_x28).reshape(-1, 784)
    fresh_before = (base.predict_proba(X).argmax(1) == fresh_y).mean()
    fresh_after = (control.net.predict_proba(X).argmax(1) == fresh_y).mean()
    assert fresh_after >= 0.95 and fresh_after >= fresh_before + 0.15
    # MNIST is not forgotten.
    assert after["mnist_acc"] >= 0.98
    assert after["mnist_acc"] >= before["mnist_acc"] - 0.005
    print(
        f"\npersonal held-out {before['personal_acc']:.3f} -> {after['personal_acc']:.3f}, "
        f"fresh {fresh_before:.3f} -> {fresh_after:.3f}, MNIST test "
        f"{before['mnist_acc']:.4f} -> {after['mnist_acc']:.4f}, "
        f"{done['train_seconds']:.1f}s of fine-tuning"
    )
