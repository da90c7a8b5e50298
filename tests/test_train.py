"""The training loop: it learns, stops when told, refuses bad setups and catches divergence."""

import itertools
import threading
from dataclasses import replace

import numpy as np
import pytest

from core import train as T
from core.network import forward
from core.train import PRESETS, Control, TrainConfig, preset, train
from tests.conftest import toy_dataset


def _events(config, data, control=None, kinds=None):
    out = list(train(config, data, control))
    return [e for e in out if kinds is None or e["kind"] in kinds]


def test_training_lowers_the_loss_on_a_small_problem(toy):
    cfg = TrainConfig(hidden=(32,), lr=1e-3, batch_size=32, epochs=10, log_every=1)
    steps = _events(cfg, toy, kinds={"step"})
    first = np.mean([s["loss"] for s in steps[:5]])
    last = np.mean([s["loss"] for s in steps[-5:]])
    assert last < 0.3 * first
    done = _events(cfg, toy, kinds={"done"})[0]
    assert done["test_acc"] > 0.9 and not done["stopped"]


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_learns_the_small_problem(toy, name):
    lr = {"adam": 1e-3, "sgd": 0.1}.get(name, 0.01)  # momentum multiplies the step ~10x
    cfg = TrainConfig(hidden=(16,), optimizer=name, lr=lr, batch_size=50, epochs=10)
    assert _events(cfg, toy, kinds={"done"})[0]["val_acc"] > 0.8


def test_training_is_a_generator_of_metrics_that_can_be_sliced(toy):
    cfg = TrainConfig(hidden=(8,), batch_size=10, epochs=50, log_every=1)
    first = list(itertools.islice(train(cfg, toy), 4))
    assert [e["kind"] for e in first] == ["start", "step", "step", "step"]
    assert {"loss", "smooth_loss", "lr", "images_per_sec", "epoch"} <= set(first[1])


def test_label_smoothing_changes_the_steps_but_the_loss_shown_stays_the_plain_cross_entropy(toy):
    plain_cfg = TrainConfig(hidden=(16,), batch_size=50, epochs=5, log_every=1)
    smooth_cfg = replace(plain_cfg, smoothing=0.2)
    runs = {}
    for name, cfg in (("plain", plain_cfg), ("smoothed", smooth_cfg)):
        control = Control()
        steps = [e["loss"] for e in train(cfg, toy, control) if e["kind"] == "step"]
        runs[name] = steps, control.net
    # The first step's loss is measured before any update, on the same weights and batch: the
    # same number, so the smoothed run reports the plain cross-entropy.
    assert runs["plain"][0][0] == runs["smoothed"][0][0]
    assert runs["plain"][0][1:] != runs["smoothed"][0][1:]
    # Aiming at 0.82 instead of 1, the smoothed network is less sure of its answers.
    sure = {k: forward(net, toy.X_val).max(axis=1).mean() for k, (_, net) in runs.items()}
    assert sure["smoothed"] < sure["plain"] - 0.05


def test_label_smoothing_outside_0_to_1_is_refused_with_its_name():
    for bad in (-0.1, 1.0, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="label smoothing"):
            TrainConfig(smoothing=bad)


def test_the_same_seed_gives_the_same_run(toy):
    cfg = TrainConfig(hidden=(16,), batch_size=40, epochs=2, augment="affine")
    a = _events(cfg, toy, kinds={"done"})[0]
    b = _events(cfg, toy, kinds={"done"})[0]
    assert a["val_loss"] == b["val_loss"]


def test_a_huge_learning_rate_ends_in_diverged_with_advice(toy):
    cfg = TrainConfig(hidden=(32,), optimizer="sgd", lr=10.0, batch_size=32, epochs=3)
    events = _events(cfg, toy)
    assert events[-1]["kind"] == "diverged"
    # The advice stays inside the rates the field's help gives for sgd (0.01-0.5), not 10 / 10.
    assert "learning rate" in events[-1]["reason"] and "Try 0.5," in events[-1]["reason"]
    assert not any(e["kind"] == "done" for e in events)


def test_a_diverging_cli_run_saves_nothing(monkeypatch, weights_tmp):
    d = toy_dataset(2000)
    monkeypatch.setattr(T, "load_data", lambda config: d)
    code = T.main(["--preset", "quick", "optimizer=sgd", "lr=10", "--save", "boom"])
    assert code == 1
    assert list(weights_tmp.iterdir()) == []


def test_the_cli_trains_and_saves_a_loadable_model(monkeypatch, weights_tmp):
    from core.model_store import load_model

    d = toy_dataset(1000)
    monkeypatch.setattr(T, "load_data", lambda config: d)
    assert T.main(["--preset", "quick", "epochs=10", "lr=0.001", "hidden=24", "--save", "toy"]) == 0
    model = load_model("toy")
    assert model.net.sizes == [784, 24, 10]
    assert model.meta["config"]["epochs"] == 10
    assert "--save toy" in model.meta["command"]
    assert model.meta["metrics"]["test_acc"] > 0.8


def test_stop_from_another_thread_ends_the_run_with_final_figures(toy):
    control = Control()
    cfg = TrainConfig(hidden=(16,), batch_size=10, epochs=1000)
    seen = []
    for e in train(cfg, toy, control):
        seen.append(e)
        if e["kind"] == "step" and e["step"] >= 40:
            threading.Thread(target=control.stop).start()
    assert seen[-1]["kind"] == "done" and seen[-1]["stopped"]
    assert seen[-1]["step"] < 1000 * 60


def test_pause_blocks_between_batches_and_resume_continues(toy):
    control = Control()
    cfg = TrainConfig(hidden=(16,), batch_size=10, epochs=2, log_every=1)
    gen = train(cfg, toy, control)
    next(gen)  # start
    step1 = next(gen)
    control.pause()
    got = []
    t = threading.Thread(target=lambda: got.append(next(gen)))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not got  # paused: no step happens
    before = control.snapshot()
    control.resume()
    t.join(5)
    assert got and got[0]["step"] == step1["step"] + 1
    after = control.snapshot()
    assert not np.array_equal(before.W[0], after.W[0])


def test_snapshot_is_a_copy_not_the_live_weights(toy):
    control = Control()
    cfg = TrainConfig(hidden=(8,), batch_size=10, epochs=1, log_every=1)
    gen = train(cfg, toy, control)
    next(gen), next(gen)
    snap = control.snapshot()
    next(gen)
    assert snap.W[0] is not control.net.W[0]
    assert not np.array_equal(snap.W[0], control.net.W[0])


@pytest.mark.parametrize(
    "bad, words",
    [
        (dict(lr=0), "learning rate"),
        (dict(lr=float("nan")), "learning rate"),
        (dict(hidden=(8,) * 5), "hidden layers"),
        (dict(hidden=(0,)), "hidden layers"),
        (dict(activation="softsign"), "activation"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(batch_size=-1), "batch size"),
        (dict(epochs=0), "epochs"),
        (dict(momentum=1.0), "momentum"),
        (dict(augment="mixup"), "augment"),
        (dict(train_size=59_000), "training size"),
        (dict(hidden="512"), "hidden layers must be a list of whole numbers, got '512'"),
        (dict(hidden=(512.0,)), "whole numbers"),
        (dict(seed=-1), "seed must be 0 or more"),
        (dict(seed=1.5), "seed must be a whole number"),
        (dict(seed=True), "seed must be a whole number"),
        (dict(step_every=float("nan")), "step_every must be a whole number"),
        (dict(eval_every=2.5), "eval_every must be a whole number"),
        (dict(log_every=float("nan")), "log_every must be a whole number"),
        (dict(epochs=3.0), "epochs must be a whole number"),
        (dict(l2=float("inf")), "L2 strength"),
    ],
)
def test_invalid_settings_raise_a_readable_error(bad, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**bad)


def test_config_round_trips_through_a_dict():
    cfg = preset("best", seed=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_presets_are_valid_and_the_seed_preset_is_the_article():
    assert {"seed", "quick", "best"} < set(PRESETS)
    assert set(PRESETS) == set(T.PRESET_NOTES)
    s = PRESETS["seed"]
    assert s.sizes == [784, 10, 10] and s.init == "uniform" and s.optimizer == "sgd"
    assert s.lr == 0.10 and s.batch_size == 0 and s.epochs == 500 and s.train_size == 41_000


def test_cli_rejects_unknown_overrides_with_a_message(capsys):
    assert T.main(["--preset", "quick", "colour=blue"]) == 2
    assert "name=value" in capsys.readouterr().err


@pytest.mark.mnist
def test_the_quick_preset_reaches_98_percent_on_the_mnist_test_set(mnist):
    done = _events(preset("quick"), T.load_data(preset("quick")), kinds={"done"})[0]
    assert done["test_acc"] >= 0.98


@pytest.mark.mnist
def test_the_seed_preset_lands_near_the_articles_88_percent(mnist):
    done = _events(preset("seed"), T.load_data(preset("seed")), kinds={"done"})[0]
    assert 0.80 <= done["test_acc"] <= 0.93


def test_the_smoothed_loss_is_bias_corrected_and_equals_the_loss_for_full_batch(toy):
    from core.runs.loop import Meter

    meter = Meter(0.9)
    meter.add(2.0, 1, 0.0)
    assert meter.smooth == pytest.approx(2.0)  # not 0.2, as an uncorrected average would say
    meter.add(1.0, 1, 0.0)
    assert meter.smooth == pytest.approx((0.9 * 0.1 * 2 + 0.1 * 1) / (1 - 0.81))
    cfg = TrainConfig(hidden=(8,), batch_size=0, epochs=5, log_every=1)
    steps = _events(cfg, toy, kinds={"step"})
    assert [s["smooth_loss"] for s in steps] == [s["loss"] for s in steps]


def test_a_diverging_run_logs_the_climbing_steps_before_it_stops():
    from core.runs.loop import Watch

    watch, P = Watch(climb_steps=5), np.full((1, 10), 0.1)
    assert [watch.check(x, P) for x in (2.3, 2.2, 40.0, 80.0, 160.0)] == [None] * 5
    assert "exploded from 2.30 to 160.00" in watch.check(100.0, P)  # it stopped climbing
    assert "NaN" in Watch().check(float("nan"), P)
    d = toy_dataset(2000)
    cfg = TrainConfig(hidden=(64,), optimizer="sgd", lr=3.0, batch_size=32, epochs=2, log_every=50)
    events = list(train(cfg, d))
    assert events[-1]["kind"] == "diverged"
    steps = [e["step"] for e in events if e["kind"] == "step"]
    assert len(steps) >= 2 and steps[-1] - steps[-2] == 1  # logged step by step at the end


def test_a_stop_in_the_middle_of_an_evaluation_ends_it_there(toy):
    from core.runs.loop import Interrupted, evaluate

    control = Control()
    net = list(itertools.islice(train(TrainConfig(hidden=(8,)), toy, control), 1)) and control.net
    control.stop()
    with pytest.raises(Interrupted):
        evaluate(net, toy.X_val, toy.y_val, batch=10, control=control)


def test_no_hidden_layer_is_softmax_regression_and_it_learns(toy):
    cfg = TrainConfig(hidden=(), lr=3e-3, batch_size=32, epochs=5)
    assert cfg.sizes == [784, 10]
    events = _events(cfg, toy)
    assert events[0]["n_params"] == 784 * 10 + 10
    assert events[-1]["kind"] == "done" and events[-1]["val_acc"] > 0.9


def test_more_than_four_hidden_layers_is_refused_with_a_message():
    with pytest.raises(ValueError, match="0 to 4 layers"):
        TrainConfig(hidden=(8, 8, 8, 8, 8))
