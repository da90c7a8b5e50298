"""The training doctor: small rules that read a run's numbers and name what went wrong.

Each rule is a pure function over plain inputs (lists of metric dicts, a config dict, unit
statistics, an estimated duration) and returns a `Diagnosis` or None. A diagnosis carries the
numbers that triggered it and at most one suggestion: a change to the config that the Train page
can apply with a click. Suggestions never lead straight into another divergence: learning rates
stay inside the range the Train page's help text gives for each optimizer. No UI code here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from core.messages import Message
from core.network import Network, activation_fns

# Codes of the diagnoses, used by the presets to name their lesson.
LR_TOO_HIGH = "lr_too_high"
LR_OSCILLATES = "lr_oscillates"
LR_TOO_LOW = "lr_too_low"
VANISHING = "vanishing_gradients"
OVERFITTING = "overfitting"
UNDERFITTING = "underfitting"
DEAD_RELUS = "dead_relus"
SATURATED = "saturated_units"
SLOW = "slow_setup"

LN10 = math.log(10)  # the loss of a network that guesses: -log(1/10)
# Learning rates a suggestion may propose, per optimizer: the ranges the Train page's help text
# gives (momentum multiplies the step about tenfold, so its range is ten times lower).
SAFE_LR = {
    "adam": (1e-4, 1e-2),
    "sgd": (0.01, 0.5),
    "momentum": (1e-3, 0.05),
    "nesterov": (1e-3, 0.05),
}
EXPLOSION_FACTOR = 3.0  # a loss this many times the first one ...
EXPLOSION_FLOOR = 5.0  # ... and above this (well above guessing's 2.3) is an explosion
PLATEAU_STEPS = 30  # the loss is judged after this many steps
PLATEAU_RATIO = 0.85  # still above this share of the starting loss: a plateau
OSCILLATION_WINDOW = 40  # the last this many full-batch losses are checked for a zigzag
OSCILLATION_UPS = 0.25  # share of steps where the loss went up ...
OSCILLATION_JUMP = 0.02  # ... by this share of its value on average
OVERFIT_RISE = 0.10  # validation loss this far above its best, two evaluations on or more
UNDERFIT_LOSS = 0.2  # training loss still above this at the end ...
UNDERFIT_CHANGE = 0.10  # ... and improving by less than this share over the last third
SMALL_LAYER = 32  # fewer units than this in a hidden layer is "too few"
DEAD_SHARE = 0.25  # this share of hidden ReLUs silent on every validation image
SATURATED_SHARE = 0.2  # this share of sigmoid/tanh units with a flat slope
SATURATED_SLOPE = 0.1  # a unit whose mean slope is below this share of its peak is saturated
SLOW_SECONDS = 600.0  # an estimated run longer than this gets a word before Start
SLOW_TARGET = 300.0  # the suggestion aims for about this many seconds


@dataclass(frozen=True)
class Diagnosis:
    """One finding: what was seen (with its numbers) and one change that would help."""

    code: str  # one of the codes above
    # title, detail and advice are Messages (English strs with a catalog key: doctor.*), so a
    # page can say them in the reader's language; the CLI and the tests read the English.
    title: str  # a few words: "Learning rate too high"
    detail: str  # what the numbers show, in a sentence or two
    numbers: dict = field(default_factory=dict)  # the figures that triggered it
    change: dict = field(default_factory=dict)  # config fields to set; {} when none applies
    advice: str = ""  # the suggestion in words


@dataclass(frozen=True)
class UnitActivity:
    """How the hidden units behave on a set of images (validation, normally)."""

    activation: str
    units: int  # hidden units in all layers
    dead: int  # ReLU-like units never active on any image (Z <= 0 everywhere); 0 otherwise
    saturated: int  # mean slope g'(Z) below SATURATED_SLOPE of its peak (flat: no gradient)
    images: int

    @property
    def dead_share(self) -> float:
        return self.dead / self.units if self.units else 0.0

    @property
    def saturated_share(self) -> float:
        return self.saturated / self.units if self.units else 0.0


_PEAK_SLOPE = {"relu": 1.0, "leaky_relu": 1.0, "sigmoid": 0.25, "tanh": 1.0}


def unit_activity(net: Network, X, batch: int = 1000) -> UnitActivity:
    """Dead and saturated hidden units of `net` over images X, (n, 784) in [0, 1]."""
    _, g_grad = activation_fns(net.activation)
    hidden = net.sizes[1:-1]
    ever_active = [np.zeros(h, bool) for h in hidden]
    slope_sum = [np.zeros(h, np.float64) for h in hidden]
    X = np.asarray(X, dtype=net.dtype).reshape(-1, net.sizes[0])
    for i in range(0, len(X), batch):
        A = X[i : i + batch]
        for l in range(len(hidden)):
            Z = A @ net.W[l] + net.b[l]  # (m, n_l) @ (n_l, h) -> (m, h)
            ever_active[l] |= (Z > 0).any(axis=0)
            slope_sum[l] += g_grad(Z).sum(axis=0, dtype=np.float64)
            A = activation_fns(net.activation)[0](Z)
    n = max(1, len(X))
    peak = _PEAK_SLOPE[net.activation]
    relu_like = net.activation in ("relu", "leaky_relu")  # "dead" means nothing for the others
    dead = sum(int((~a).sum()) for a in ever_active) if relu_like else 0
    saturated = sum(int((s / n < SATURATED_SLOPE * peak).sum()) for s in slope_sum)
    return UnitActivity(net.activation, int(sum(hidden)), dead, saturated, len(X))


# --- suggestions that stay safe ---------------------------------------------------------------


def _nice(x: float) -> float:
    """One significant digit: 0.0347 -> 0.03."""
    return float(f"{x:.1g}")


def safe_lr_range(optimizer: str) -> tuple[float, float]:
    """The learning rates a suggestion may propose for an optimizer."""
    return SAFE_LR.get(optimizer, SAFE_LR["sgd"])


def lower_lr(config: dict, factor: float = 10.0) -> float | None:
    """A learning rate `factor` times smaller, kept inside the safe range; None if none is."""
    lo, hi = safe_lr_range(config["optimizer"])
    lr = float(config["lr"])
    new = _nice(min(max(lr / factor, lo), hi))
    return new if new < lr else None


def higher_lr(config: dict, factor: float = 10.0) -> float | None:
    """A learning rate `factor` times larger, kept inside the safe range; None if none is."""
    lo, hi = safe_lr_range(config["optimizer"])
    lr = float(config["lr"])
    new = _nice(min(max(lr * factor, lo), hi))
    return new if new > lr else None


def describe_change(change: dict) -> str:
    """'learning rate 0.001, activation relu': a config change in words, for a button."""
    names = {"lr": "learning rate", "hidden": "hidden layers", "l2": "L2 weight decay"}
    parts = []
    for key, value in change.items():
        if key == "hidden":
            value = ", ".join(map(str, value)) if value else "none"
        elif key == "train_size" and value == 0:
            key, value = "training images", "all"
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{names.get(key, key.replace('_', ' '))} {value}")
    return ", ".join(parts)


# --- rules over the loss per step ---------------------------------------------------------------


def _try_lr(lr: float) -> Message:
    return Message("doctor.try_lr", f"Try learning rate {lr:g}.", lr=f"{lr:g}")


def _losses(steps: Sequence[dict]) -> list[float]:
    return [float(s["loss"]) for s in steps]


def explosion(steps: Sequence[dict], config: dict, diverged: bool = False) -> Diagnosis | None:
    """Learning rate too high: the loss climbed far above where it started (or became NaN)."""
    losses = _losses(steps)
    if not losses and not diverged:
        return None
    finite = [x for x in losses if math.isfinite(x)]
    first = finite[0] if finite else float("nan")
    peak = max(finite) if finite else float("nan")
    blew_up = len(finite) < len(losses)
    climbed = bool(finite) and peak > max(EXPLOSION_FACTOR * first, EXPLOSION_FLOOR)
    if not (blew_up or climbed or diverged):
        return None
    bad = [s["step"] for s in steps if not math.isfinite(s["loss"])]
    at = bad[0] if bad else next((s["step"] for s in steps if s["loss"] == peak), 0)
    new = lower_lr(config)
    if blew_up:
        what = Message("doctor.lr_too_high.nan", "The loss became NaN (the weights overflowed)")
    elif finite:
        first_s, peak_s = f"{first:.2f}", f"{peak:.2f}"
        what = Message(
            "doctor.lr_too_high.climbed",
            f"The loss climbed from {first_s} to {peak_s} by step {at}",
            first=first_s,
            peak=peak_s,
            step=at,
        )
    else:
        what = Message("doctor.lr_too_high.diverged", "The run diverged")
    lr, optimizer = f"{config['lr']:g}", config["optimizer"]
    return Diagnosis(
        LR_TOO_HIGH,
        Message("doctor.lr_too_high.title", "Learning rate too high"),
        Message(
            "doctor.lr_too_high.detail",
            f"{what}: with learning rate {lr} each {optimizer} step overshoots, and the next one "
            f"overshoots further.",
            what=what,
            lr=lr,
            optimizer=optimizer,
        ),
        {"first_loss": first, "peak_loss": peak, "step": at, "lr": config["lr"]},
        {"lr": new} if new else {},
        _try_lr(new) if new else Message("doctor.try_quick", "Try the quick preset's setup."),
    )


def oscillation(steps: Sequence[dict], config: dict) -> Diagnosis | None:
    """Learning rate on the high side: a full-batch loss that zigzags instead of falling.

    Only full-batch runs are judged: there the loss has no batch noise, so every rise is the
    step overshooting the valley's floor.
    """
    if config.get("batch_size", 0) != 0:
        return None
    losses = [x for x in _losses(steps)[-OSCILLATION_WINDOW:] if math.isfinite(x)]
    if len(losses) < 10:
        return None
    diffs = np.diff(losses)
    ups = diffs > 0
    share = float(ups.mean())
    jump = float(np.mean(diffs[ups] / np.asarray(losses[:-1])[ups])) if ups.any() else 0.0
    if share < OSCILLATION_UPS or jump < OSCILLATION_JUMP:
        return None
    new = lower_lr(config, factor=3.0)
    n, up, by = len(losses), f"{share:.0%}", f"{jump:.0%}"
    return Diagnosis(
        LR_OSCILLATES,
        Message("doctor.lr_oscillates.title", "Learning rate on the high side: the loss zigzags"),
        Message(
            "doctor.lr_oscillates.detail",
            f"In the last {n} iterations the loss went up {up} of the time, by {by} on average: "
            f"each step jumps across the valley instead of down it.",
            n=n,
            up=up,
            by=by,
        ),
        {"up_share": share, "mean_jump": jump, "lr": config["lr"]},
        {"lr": new} if new else {},
        Message(
            "doctor.lr_oscillates.advice",
            f"Try learning rate {new:g} for a smoother descent.",
            lr=f"{new:g}",
        )
        if new
        else "",
    )


def plateau(steps: Sequence[dict], config: dict) -> Diagnosis | None:
    """A loss that barely moves from the start: the learning rate is too low, or, with sigmoid
    or tanh, the gradients vanish on their way back through flat units."""
    pairs = [(s["step"], float(s["loss"])) for s in steps if math.isfinite(s["loss"])]
    if not pairs or pairs[-1][0] < PLATEAU_STEPS:
        return None
    first = max(loss for _, loss in pairs[:3])
    at, loss = next((s, x) for s, x in pairs if s >= PLATEAU_STEPS)
    window = [x for s, x in pairs if at - PLATEAU_STEPS // 5 <= s <= at]
    loss = float(np.mean(window)) if window else loss
    if loss <= PLATEAU_RATIO * first or loss < 0.5 * LN10:
        return None
    numbers = {"first_loss": first, "loss": loss, "step": at, "lr": config["lr"]}
    drop, first_s, loss_s = f"{1 - loss / first:.0%}", f"{first:.2f}", f"{loss:.2f}"
    if config.get("activation") in ("sigmoid", "tanh"):
        activation = config["activation"]
        peak = "0.25" if activation == "sigmoid" else "1"
        return Diagnosis(
            VANISHING,
            Message("doctor.vanishing.title", "Vanishing gradients: the loss crawls"),
            Message(
                "doctor.vanishing.detail",
                f"After {at} steps the loss fell only {drop} (from {first_s} to {loss_s}). "
                f"{activation}'s slope is small away from 0 (at most {peak}), so the gradient "
                f"shrinks at every layer on its way back and the first weights hardly change.",
                step=at,
                drop=drop,
                first=first_s,
                loss=loss_s,
                activation=activation,
                peak=peak,
            ),
            numbers,
            {"activation": "relu"},
            Message(
                "doctor.vanishing.advice", "Try ReLU, whose slope is 1 wherever a unit is active."
            ),
        )
    new = higher_lr(config)
    lr = f"{config['lr']:g}"
    return Diagnosis(
        LR_TOO_LOW,
        Message("doctor.lr_too_low.title", "Learning rate too low: a plateau from the start"),
        Message(
            "doctor.lr_too_low.detail",
            f"After {at} steps the loss fell only {drop} (from {first_s} to {loss_s}): the steps "
            f"of size {lr} are too small to get anywhere.",
            step=at,
            drop=drop,
            first=first_s,
            loss=loss_s,
            lr=lr,
        ),
        numbers,
        {"lr": new} if new else {},
        _try_lr(new) if new else Message("doctor.try_adam", "Try the adam optimizer."),
    )


# --- rules over the evaluated epochs ------------------------------------------------------------


def overfitting(epochs: Sequence[dict], config: dict) -> Diagnosis | None:
    """Validation loss rising from its best while the training loss keeps falling."""
    evals = [e for e in epochs if math.isfinite(e["val_loss"]) and math.isfinite(e["train_loss"])]
    if len(evals) < 4:
        return None
    best = min(range(len(evals)), key=lambda i: evals[i]["val_loss"])
    last = evals[-1]
    if len(evals) - 1 - best < 2:
        return None
    rise = last["val_loss"] / evals[best]["val_loss"] - 1
    if rise < OVERFIT_RISE or last["train_loss"] >= evals[best]["train_loss"]:
        return None
    train_size = int(config.get("train_size", 0) or 0)
    if train_size and train_size < 20_000:
        change = {"train_size": 0}
        advice = Message(
            "doctor.overfitting.more_data", "Train on every image: more data is the surest cure."
        )
    elif not config.get("l2"):
        change = {"l2": 1e-4}
        advice = Message(
            "doctor.overfitting.l2", "Try L2 weight decay 0.0001, which keeps weights small."
        )
    elif config.get("augment", "none") == "none":
        change = {"augment": "affine"}
        advice = Message(
            "doctor.overfitting.augment", "Try affine augmentation: new variants each time."
        )
    else:
        stop = max(1, int(math.ceil(evals[best]["epoch"])))
        change = {"epochs": stop}
        advice = Message(
            "doctor.overfitting.stop",
            f"Stop at epoch {stop}, where validation was best.",
            epoch=stop,
        )
    words = {
        "best_epoch": f"{evals[best]['epoch']:g}",
        "best_loss": f"{evals[best]['val_loss']:.3f}",
        "rise": f"{rise:.0%}",
        "val_loss": f"{last['val_loss']:.3f}",
        "train_loss": f"{last['train_loss']:.3f}",
        "train_acc": f"{last['train_acc']:.1%}",
        "val_acc": f"{last['val_acc']:.1%}",
    }
    return Diagnosis(
        OVERFITTING,
        Message("doctor.overfitting.title", "Overfitting: it memorises the training images"),
        Message(
            "doctor.overfitting.detail",
            "Validation loss was lowest at epoch {best_epoch} ({best_loss}) and has risen {rise} "
            "since (now {val_loss}), while training loss kept falling to {train_loss}: training "
            "accuracy {train_acc}, validation {val_acc}.".format(**words),
            best_epoch=words["best_epoch"],
            best_loss=words["best_loss"],
            rise=words["rise"],
            val_loss=words["val_loss"],
            train_loss=words["train_loss"],
            train_acc=words["train_acc"],
            val_acc=words["val_acc"],
        ),
        {
            "best_epoch": evals[best]["epoch"],
            "best_val_loss": evals[best]["val_loss"],
            "val_loss": last["val_loss"],
            "train_loss": last["train_loss"],
        },
        change,
        advice,
    )


def underfitting(epochs: Sequence[dict], config: dict) -> Diagnosis | None:
    """Training and validation loss both high and flat, with no hidden layer or few units."""
    hidden = list(config.get("hidden") or [])
    if hidden and min(hidden) >= SMALL_LAYER:
        return None
    evals = [e for e in epochs if math.isfinite(e["val_loss"]) and math.isfinite(e["train_loss"])]
    if len(evals) < 3:
        return None
    last, before = evals[-1], evals[(2 * (len(evals) - 1)) // 3]
    change = 1 - last["train_loss"] / before["train_loss"] if before["train_loss"] else 0.0
    if min(last["train_loss"], last["val_loss"]) < UNDERFIT_LOSS or change > UNDERFIT_CHANGE:
        return None
    shape = (
        Message("doctor.underfitting.no_hidden", "no hidden layer")
        if not hidden
        else Message(
            "doctor.underfitting.few_units",
            f"a hidden layer of only {min(hidden)} units",
            n=min(hidden),
        )
    )
    train_loss, val_loss, better = (
        f"{last['train_loss']:.3f}",
        f"{last['val_loss']:.3f}",
        f"{change:.0%}",
    )
    return Diagnosis(
        UNDERFITTING,
        Message("doctor.underfitting.title", "Underfitting: the network is too simple"),
        Message(
            "doctor.underfitting.detail",
            f"Training loss {train_loss} and validation loss {val_loss} are both high and barely "
            f"moving ({better} better over the last third): with {shape}, it cannot draw the "
            f"boundaries between the digits that it would need.",
            train_loss=train_loss,
            val_loss=val_loss,
            better=better,
            shape=shape,
        ),
        {"train_loss": last["train_loss"], "val_loss": last["val_loss"], "change": change},
        {"hidden": (256,)},
        Message("doctor.underfitting.advice", "Try one hidden layer of 256 units."),
    )


# --- rules over the network's units -------------------------------------------------------------


def dead_relus(activity: UnitActivity | None, config: dict) -> Diagnosis | None:
    """A large share of ReLUs that never fire on any validation image: they no longer learn."""
    if activity is None or activity.activation != "relu" or not activity.units:
        return None
    if activity.dead_share < DEAD_SHARE:
        return None
    lo, hi = safe_lr_range(config["optimizer"])
    if config["lr"] > hi:
        new = lower_lr(config)
        change = {"lr": new}
        advice = Message(
            "doctor.dead_relus.lower_lr",
            f"Try learning rate {new:g}: big steps knock units out.",
            lr=f"{new:g}",
        )
    else:
        change = {"activation": "leaky_relu"}
        advice = Message("doctor.dead_relus.leaky", "Try leaky ReLU, which never goes silent.")
    dead, units, share, images = (
        f"{activity.dead:,}",
        f"{activity.units:,}",
        f"{activity.dead_share:.0%}",
        f"{activity.images:,}",
    )
    return Diagnosis(
        DEAD_RELUS,
        Message("doctor.dead_relus.title", "Dead ReLUs"),
        Message(
            "doctor.dead_relus.detail",
            f"{dead} of {units} hidden units ({share}) output 0 for every one of the {images} "
            f"validation images. A dead unit's slope is 0, so no gradient ever reaches it again: "
            f"the network works with what is left.",
            dead=dead,
            units=units,
            share=share,
            images=images,
        ),
        {"dead": activity.dead, "units": activity.units, "share": activity.dead_share},
        change,
        advice,
    )


def saturated_units(activity: UnitActivity | None, config: dict) -> Diagnosis | None:
    """Sigmoid or tanh units stuck in their flat tails, where the slope (and gradient) is ~0."""
    if activity is None or activity.activation not in ("sigmoid", "tanh") or not activity.units:
        return None
    if activity.saturated_share < SATURATED_SHARE:
        return None
    words = {
        "saturated": f"{activity.saturated:,}",
        "units": f"{activity.units:,}",
        "share": f"{activity.saturated_share:.0%}",
        "activation": activity.activation,
        "slope": f"{SATURATED_SLOPE:.0%}",
    }
    return Diagnosis(
        SATURATED,
        Message("doctor.saturated.title", "Saturated units"),
        Message(
            "doctor.saturated.detail",
            "{saturated} of {units} hidden units ({share}) sit in {activation}'s flat tails on "
            "the validation images (their mean slope is under {slope} of the peak), so little "
            "gradient passes through them.".format(**words),
            saturated=words["saturated"],
            units=words["units"],
            share=words["share"],
            activation=words["activation"],
            slope=words["slope"],
        ),
        {
            "saturated": activity.saturated,
            "units": activity.units,
            "share": activity.saturated_share,
        },
        {"activation": "relu"},
        Message(
            "doctor.saturated.advice", "Try ReLU, which does not saturate for positive inputs."
        ),
    )


# --- before Start -------------------------------------------------------------------------------


def slow_setup(estimated_seconds: float | None, config: dict) -> Diagnosis | None:
    """A setup whose estimated duration is long enough to deserve a word before Start."""
    if estimated_seconds is None or estimated_seconds < SLOW_SECONDS:
        return None
    epochs = int(config.get("epochs", 1))
    fewer = max(1, int(epochs * SLOW_TARGET / estimated_seconds))
    change = {"epochs": fewer} if fewer < epochs else {}
    minutes = f"{estimated_seconds / 60:.0f}"
    shorter = f"{estimated_seconds * fewer / epochs / 60:.0f}"
    return Diagnosis(
        SLOW,
        Message("doctor.slow.title", "This will take a while"),
        Message(
            "doctor.slow.detail",
            f"This setup should take about {minutes} minutes on this machine.",
            minutes=minutes,
        ),
        {"seconds": estimated_seconds, "epochs": epochs},
        change,
        Message(
            "doctor.slow.fewer_epochs",
            f"Try {fewer} epochs first (about {shorter} min) to see whether the setup learns.",
            epochs=fewer,
            minutes=shorter,
        )
        if change
        else Message("doctor.slow.smaller", "Try fewer or smaller hidden layers first."),
    )


# --- all rules together -------------------------------------------------------------------------


def diagnose(
    config: dict,
    steps: Sequence[dict] = (),
    epochs: Sequence[dict] = (),
    *,
    diverged: bool = False,
    activity: UnitActivity | None = None,
) -> list[Diagnosis]:
    """Every rule that fires for a run so far (or finished), most fundamental first."""
    rules = (
        explosion(steps, config, diverged),
        oscillation(steps, config),
        plateau(steps, config),
        dead_relus(activity, config),
        saturated_units(activity, config),
        overfitting(epochs, config),
        underfitting(epochs, config),
    )
    found = [d for d in rules if d is not None]
    if any(d.code == LR_TOO_HIGH for d in found):
        # After an explosion the other figures (dead units included) describe the wreckage,
        # not the setup.
        found = [d for d in found if d.code == LR_TOO_HIGH]
    # One button per change: a later finding that suggests the same change keeps only its words.
    seen, unique = [], []
    for d in found:
        if d.change and d.change in seen:
            d = replace(d, change={})
        seen.append(d.change)
        unique.append(d)
    return unique
