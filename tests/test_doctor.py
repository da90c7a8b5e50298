"""The training doctor: each rule on made-up metric streams, its suggestions stay safe, and each
failure preset's real (short) run on MNIST makes the doctor name its lesson."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.network import init_network
from core.runs import doctor
from core.runs.doctor import (
    DEAD_RELUS,
    LR_OSCILLATES,
    LR_TOO_HIGH,
    LR_TOO_LOW,
    OVERFITTING,
    SATURATED,
    SLOW,
    UNDERFITTING,
    VANISHING,
    UnitActivity,
    diagnose,
)
from core.train import PRESET_LESSONS, PRESETS, Control, TrainConfig, load_data, preset, train


def config(**changes) -> dict:
    return TrainConfig(**changes).to_dict()


def steps_of(losses, every: int = 1) -> list[dict]:
    return [{"step": (i + 1) * every, "loss": x, "smooth_loss": x} for i, x in enumerate(losses)]


def epochs_of(train_loss, val_loss) -> list[dict]:
    return [
        {
            "epoch": i + 1,
            "train_loss": t,
            "val_loss": v,
            "train_acc": math.exp(-t),
            "val_acc": math.exp(-v),
        }
        for i, (t, v) in enumerate(zip(train_loss, val_loss, strict=True))
    ]


def codes(found) -> list[str]:
    return [d.code for d in found]


def healthy_steps(n=200):
    return steps_of([2.3 * math.exp(-i / 20) + 0.05 for i in range(n)])


# --- the learning rate ------------------------------------------------------------------------


def test_a_loss_that_climbs_far_above_its_start_is_a_learning_rate_too_high():
    cfg = config(optimizer="sgd", lr=3.0)
    found = doctor.explosion(steps_of([2.5, 6.9, 13.4, 21.5]), cfg)
    assert found.code == LR_TOO_HIGH
    assert found.numbers["peak_loss"] == 21.5 and found.numbers["step"] == 4
    assert found.change == {"lr": 0.3}


def test_a_nan_loss_is_an_explosion_too():
    found = doctor.explosion(steps_of([2.3, 5.0, float("nan")]), config(lr=0.5))
    assert found.code == LR_TOO_HIGH and "NaN" in found.detail


def test_noisy_but_falling_losses_are_not_an_explosion():
    assert doctor.explosion(steps_of([2.5, 4.3, 3.0, 1.5, 0.9]), config()) is None
    assert doctor.explosion(healthy_steps(), config()) is None


def test_a_run_the_loop_called_diverged_is_an_explosion_even_without_steps():
    assert doctor.explosion([], config(lr=5.0), diverged=True).code == LR_TOO_HIGH


def test_adam_at_ten_is_told_a_rate_inside_the_help_texts_range_not_one():
    found = doctor.explosion(steps_of([2.5, 30.0]), config(optimizer="adam", lr=10.0))
    assert found.change == {"lr": 0.01}


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "momentum", "nesterov"])
@pytest.mark.parametrize("lr", [10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 1e-3, 3e-4, 1e-4])
def test_every_learning_rate_suggestion_stays_inside_its_optimizers_safe_range(optimizer, lr):
    cfg = config(optimizer=optimizer, lr=lr)
    lo, hi = doctor.safe_lr_range(optimizer)
    for new in (doctor.lower_lr(cfg), doctor.higher_lr(cfg), doctor.lower_lr(cfg, 3)):
        if new is not None:
            assert lo <= new <= hi
            TrainConfig(**{**cfg, "lr": new})  # and it is a valid setup


def test_a_zigzagging_full_batch_loss_is_a_learning_rate_on_the_high_side():
    zigzag = [1.0 + 0.3 * (i % 2) - 0.002 * i for i in range(60)]
    found = doctor.oscillation(steps_of(zigzag), config(optimizer="sgd", lr=1.0, batch_size=0))
    assert found.code == LR_OSCILLATES
    assert found.numbers["up_share"] > 0.4 and found.change == {"lr": 0.3}


def test_a_smoothly_falling_full_batch_loss_does_not_oscillate():
    cfg = config(optimizer="sgd", lr=0.1, batch_size=0)
    assert doctor.oscillation(healthy_steps(), cfg) is None


def test_mini_batch_noise_is_not_taken_for_oscillation():
    rng = np.random.default_rng(0)
    noisy = list(0.3 + 0.1 * rng.standard_normal(100))
    assert doctor.oscillation(steps_of(noisy), config(batch_size=128)) is None


def test_a_loss_stuck_near_guessing_from_the_start_is_a_learning_rate_too_low():
    flat = [2.31 - 0.001 * i for i in range(60)]
    found = doctor.plateau(steps_of(flat), config(optimizer="sgd", lr=0.001))
    assert found.code == LR_TOO_LOW and found.change == {"lr": 0.01}


def test_the_same_plateau_with_sigmoid_is_vanishing_gradients_and_suggests_relu():
    flat = [2.46 - 0.01 * i for i in range(60)]
    found = doctor.plateau(steps_of(flat), config(activation="sigmoid", optimizer="sgd", lr=0.1))
    assert found.code == VANISHING and found.change == {"activation": "relu"}


def test_a_plateau_is_not_judged_before_enough_steps():
    assert doctor.plateau(steps_of([2.3] * 10), config(optimizer="sgd", lr=0.001)) is None


def test_a_loss_that_falls_fast_is_no_plateau():
    assert doctor.plateau(healthy_steps(), config()) is None


# --- the evaluated epochs ---------------------------------------------------------------------


def test_validation_loss_rising_while_training_loss_falls_is_overfitting():
    train_loss = [0.8, 0.3, 0.1, 0.03, 0.01, 0.005, 0.002]
    val_loss = [0.6, 0.45, 0.42, 0.44, 0.47, 0.50, 0.52]
    found = doctor.overfitting(epochs_of(train_loss, val_loss), config(train_size=500))
    assert found.code == OVERFITTING
    assert found.numbers["best_epoch"] == 3 and found.numbers["val_loss"] == 0.52
    assert found.change == {"train_size": 0}


def test_overfitting_with_all_the_data_suggests_weight_decay_then_augmentation():
    ep = epochs_of([0.5, 0.2, 0.1, 0.05, 0.02, 0.01], [0.3, 0.2, 0.2, 0.23, 0.25, 0.27])
    assert doctor.overfitting(ep, config()).change == {"l2": 1e-4}
    assert doctor.overfitting(ep, config(l2=1e-4)).change == {"augment": "affine"}


def test_validation_loss_that_keeps_falling_is_no_overfitting():
    ep = epochs_of([0.5, 0.3, 0.2, 0.15, 0.1], [0.4, 0.3, 0.25, 0.2, 0.18])
    assert doctor.overfitting(ep, config()) is None


def test_a_small_bump_in_validation_loss_is_no_overfitting():
    ep = epochs_of([0.5, 0.3, 0.2, 0.15, 0.1], [0.4, 0.3, 0.25, 0.26, 0.26])
    assert doctor.overfitting(ep, config()) is None


def test_high_flat_losses_without_a_hidden_layer_are_underfitting():
    ep = epochs_of([0.47, 0.30, 0.283, 0.272, 0.266], [0.31, 0.286, 0.276, 0.276, 0.273])
    found = doctor.underfitting(ep, config(hidden=()))
    assert found.code == UNDERFITTING and found.change == {"hidden": (256,)}
    assert "no hidden layer" in found.detail


def test_the_same_losses_with_a_wide_hidden_layer_are_not_called_underfitting():
    ep = epochs_of([0.47, 0.30, 0.283, 0.272, 0.266], [0.31, 0.286, 0.276, 0.276, 0.273])
    assert doctor.underfitting(ep, config(hidden=(256,))) is None


def test_low_losses_in_a_small_network_are_not_underfitting():
    ep = epochs_of([0.3, 0.15, 0.1, 0.08], [0.3, 0.16, 0.11, 0.1])
    assert doctor.underfitting(ep, config(hidden=(16,))) is None


# --- the units ------------------------------------------------------------------------------


def test_unit_activity_counts_units_that_never_fire():
    net = init_network([784, 6, 10], "relu", np.random.default_rng(0))
    net.b[0][:2] = -1e6  # two units pushed far below zero: silent on every image
    net.b[0][2:] = 1e6  # the rest always on
    X = np.random.default_rng(1).random((50, 784)).astype(np.float32)
    activity = doctor.unit_activity(net, X, batch=16)
    assert (activity.units, activity.dead, activity.images) == (6, 2, 50)


def test_unit_activity_counts_sigmoid_units_stuck_in_their_tails():
    net = init_network([784, 4, 3, 10], "sigmoid", np.random.default_rng(0))
    net.b[0][:3] = 50.0  # output 1 whatever the image: slope ~0
    X = np.random.default_rng(1).random((20, 784)).astype(np.float32) * 0.01
    activity = doctor.unit_activity(net, X)
    assert activity.units == 7 and activity.saturated == 3 and activity.dead == 0


def test_unit_activity_of_a_network_without_hidden_layers_is_empty():
    net = init_network([784, 10], "relu", np.random.default_rng(0))
    activity = doctor.unit_activity(net, np.zeros((5, 784), np.float32))
    assert activity.units == 0 and doctor.dead_relus(activity, config(hidden=())) is None


def test_many_silent_relus_are_dead_relus_and_a_high_rate_is_lowered_first():
    activity = UnitActivity("relu", units=256, dead=187, saturated=0, images=5000)
    found = doctor.dead_relus(activity, config(optimizer="sgd", lr=1.5))
    assert found.code == DEAD_RELUS and found.numbers["dead"] == 187
    assert found.change == {"lr": 0.1}
    calm = doctor.dead_relus(activity, config(optimizer="adam", lr=1e-3))
    assert calm.change == {"activation": "leaky_relu"}


def test_a_few_silent_relus_are_normal():
    activity = UnitActivity("relu", units=256, dead=18, saturated=0, images=5000)
    assert doctor.dead_relus(activity, config()) is None


def test_many_flat_sigmoid_units_are_saturated():
    activity = UnitActivity("sigmoid", units=100, dead=0, saturated=40, images=5000)
    found = doctor.saturated_units(activity, config(activation="sigmoid"))
    assert found.code == SATURATED and found.change == {"activation": "relu"}
    assert doctor.saturated_units(UnitActivity("relu", 100, 0, 40, 5000), config()) is None


# --- before Start -----------------------------------------------------------------------------


def test_a_long_estimate_is_a_slow_setup_with_fewer_epochs_suggested():
    found = doctor.slow_setup(1800.0, config(epochs=30))
    assert found.code == SLOW and found.change == {"epochs": 5}
    assert doctor.slow_setup(120.0, config()) is None
    assert doctor.slow_setup(None, config()) is None


def test_a_slow_single_epoch_has_no_epoch_cut_to_suggest():
    found = doctor.slow_setup(1200.0, config(epochs=1))
    assert found.change == {} and found.advice


# --- all together -----------------------------------------------------------------------------


def test_a_healthy_run_gets_no_diagnosis():
    ep = epochs_of([0.3, 0.12, 0.08, 0.06], [0.15, 0.1, 0.085, 0.08])
    activity = UnitActivity("relu", units=256, dead=10, saturated=0, images=5000)
    assert diagnose(config(), healthy_steps(), ep, activity=activity) == []


def test_after_an_explosion_only_the_explosion_is_reported():
    steps = steps_of([2.5, 2.4, 2.4, 9.0] + [2.3] * 40)
    found = diagnose(config(optimizer="sgd", lr=3.0), steps, diverged=True)
    assert codes(found) == [LR_TOO_HIGH]


def test_two_findings_with_the_same_change_offer_it_once():
    steps = steps_of([2.46 - 0.005 * i for i in range(60)])
    activity = UnitActivity("sigmoid", units=100, dead=0, saturated=50, images=100)
    cfg = config(activation="sigmoid", optimizer="sgd", lr=0.1)
    found = diagnose(cfg, steps, activity=activity)
    assert codes(found) == [VANISHING, SATURATED]
    assert [d.change for d in found] == [{"activation": "relu"}, {}]


def test_describe_change_reads_like_a_setting():
    assert doctor.describe_change({"lr": 0.001}) == "learning rate 0.001"
    assert doctor.describe_change({"hidden": (256,)}) == "hidden layers 256"
    assert doctor.describe_change({"train_size": 0}) == "training images all"


# --- the failure presets, really run ----------------------------------------------------------

# Shortened where the lesson shows early, so the suite stays quick.
SHORT = {"vanishing": {"epochs": 40}, "dead-relus": {"epochs": 1}, "overfitting": {"epochs": 30}}


@pytest.mark.parametrize("name", sorted(PRESET_LESSONS))
def test_each_failure_presets_real_run_makes_the_doctor_name_its_lesson(mnist, name):
    cfg = preset(name, **SHORT.get(name, {}))
    control = Control()
    events = list(train(cfg, control=control))
    steps = [e for e in events if e["kind"] == "step"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    diverged = events[-1]["kind"] == "diverged"
    activity = doctor.unit_activity(control.net, load_data(cfg).X_val)
    found = diagnose(cfg.to_dict(), steps, epochs, diverged=diverged, activity=activity)
    assert PRESET_LESSONS[name] in codes(found), (name, [d.detail for d in found])
    # ... and following the doctor's first suggestion gives a valid setup.
    lesson = next(d for d in found if d.code == PRESET_LESSONS[name])
    TrainConfig(**{**cfg.to_dict(), **lesson.change})


def test_every_failure_preset_has_a_note_and_the_classic_presets_have_no_lesson():
    assert set(PRESET_LESSONS) < set(PRESETS)
    assert not {"seed", "quick", "best"} & set(PRESET_LESSONS)
