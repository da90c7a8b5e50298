"""Fine-tuning: teach a trained model the user's handwriting without forgetting MNIST.

A copy of the model trains on batches that are a small part personal examples and mostly MNIST
replay, which keeps MNIST accuracy from collapsing while the new style is learnt. It runs on the
same loop as `core.train.train` (core.runs.loop) and yields the same typed events, steered by a
`Control`; it never prints, saves or imports streamlit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from core.augment import AUGMENTS, augment_batch
from core.data import Dataset
from core.messages import Message
from core.network import Network
from core.optim import Optimizer, learning_rate
from core.runs.doctor import lower_lr
from core.runs.events import Done, Start, Stopped
from core.runs.loop import Control, Interrupted, Plan, evaluate, fit, to_float
from core.train import TrainConfig, load_data

MIN_FOR_HOLDOUT = 20  # from this many personal examples on, a part is held out to measure


@dataclass
class FinetuneConfig:
    """How to fine-tune. Stored in the new model's metadata."""

    steps: int = 300  # optimizer steps, 1-20000; 300 take a second or two
    batch_size: int = 128  # images per step, personal and MNIST together, 2-4096
    # Fraction of each batch from the personal set, in (0, 1]. Small on purpose: a few dozen
    # drawings repeated often are learnt within a hundred steps, and a larger share pulls the
    # network towards the user's digits everywhere (MNIST 8s start to read as a slashed 0).
    personal_share: float = 0.125
    lr: float = 3e-4  # Adam step size; a tenth of training's, so it adjusts rather than relearns
    # Distortions of the personal examples: none | shift | affine | elastic. Measured on drawn
    # digits, "none" generalises as well as the others and costs MNIST the least.
    augment: str = "none"
    holdout: float = 0.25  # share of each digit's examples held out to measure, in [0, 0.5]
    seed: int = 0  # same seed, same split, batches and result
    log_every: int = 10  # steps between step metrics
    eval_every: int = 100  # steps between measurements on the held-out part

    def __post_init__(self):
        problems = []
        if not 1 <= self.steps <= 20_000:
            problems.append(f"steps must be between 1 and 20000, got {self.steps}")
        if not 2 <= self.batch_size <= 4096:
            problems.append(f"batch size must be between 2 and 4096, got {self.batch_size}")
        if not 0 < self.personal_share <= 1:
            problems.append(f"personal share must be in (0, 1], got {self.personal_share}")
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and 0 < self.lr <= 1):
            problems.append(f"learning rate must be above 0 and at most 1, got {self.lr}")
        if self.augment not in AUGMENTS:
            problems.append(f"augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if not 0 <= self.holdout <= 0.5:
            problems.append(f"held-out share must be between 0 and 0.5, got {self.holdout}")
        if self.log_every < 1 or self.eval_every < 1:
            problems.append("log_every and eval_every must be at least 1")
        if problems:
            raise ValueError("Invalid fine-tuning setup: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FinetuneConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class PersonalData:
    """The personal set as arrays: X (n, 784) float32 in [0, 1], y (n,) uint8, and a stable key
    per example (the store's hash) that decides, once and for all, whether it is held out."""

    X: np.ndarray
    y: np.ndarray
    keys: list[str]

    @classmethod
    def from_store(cls, store) -> PersonalData:
        items, X, y = store.dataset()
        return cls(X, y, [it.hash for it in items])


def split_heldout(
    keys: list[str], y: np.ndarray, share: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices) of the personal set, digit by digit.

    Nothing is held out below MIN_FOR_HOLDOUT examples. Otherwise each digit gives about
    `share` of its examples, but always keeps one to learn from. Examples are ranked by a hash
    of their key, not by when they were added, so the split is the same every time for the same
    set and shifts little as the set grows.
    """
    n = len(y)
    if n < MIN_FOR_HOLDOUT or share <= 0:
        return np.arange(n), np.zeros(0, dtype=int)
    rank = [hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in keys]
    held = []
    for digit in np.unique(y):
        idx = sorted(np.flatnonzero(y == digit), key=lambda i: rank[i])
        k = min(int(len(idx) * share + 0.5), len(idx) - 1)
        held.extend(idx[:k])
    held = np.array(sorted(held), dtype=int)
    train = np.setdiff1d(np.arange(n), held)
    return train, held


class Replay:
    """Draws MNIST training images to fill a batch so that each digit keeps its MNIST share.

    A personal set is lopsided (people correct the digits that were read wrong), and a batch
    full of extra 0s teaches the network that 0 is simply more likely, so it starts reading
    8s as 0s. Replay therefore favours the digits the personal part of the batch lacks.
    """

    def __init__(self, y: np.ndarray):
        self.order = np.argsort(y, kind="stable")  # indices grouped by digit
        self.counts = np.bincount(y, minlength=10)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.prior = self.counts / self.counts.sum()

    def sample(self, personal_y: np.ndarray, batch_size: int, rng) -> np.ndarray:
        """Indices of batch_size - len(personal_y) replay images."""
        n = batch_size - len(personal_y)
        deficit = np.maximum(batch_size * self.prior - np.bincount(personal_y, minlength=10), 0)
        p = deficit / deficit.sum() if deficit.sum() > 0 else self.prior
        digits = rng.choice(10, size=n, p=p)
        within = (rng.random(n) * self.counts[digits]).astype(np.int64)
        return self.order[self.starts[digits] + within]


def measure(net: Network, personal_X, personal_y, mnist_X, mnist_y, control=None) -> dict:
    """Loss and accuracy on a personal part and on MNIST test, as one dict (a stop through
    `control` interrupts it)."""
    p_loss, p_acc = evaluate(net, personal_X, personal_y, control=control)
    m_loss, m_acc = evaluate(net, mnist_X, mnist_y, control=control)
    return {
        "personal_loss": p_loss,
        "personal_acc": p_acc,
        "personal_n": int(len(personal_y)),
        "mnist_loss": m_loss,
        "mnist_acc": m_acc,
        "mnist_n": int(len(mnist_y)),
    }


def _finetune_batches(config, Xp, yp, data, replay, n_personal, n_replay, rng):
    """Each step's batch: a few personal examples (distorted if asked), the rest MNIST replay."""
    for step in range(config.steps):
        pi = rng.integers(0, len(yp), n_personal)
        Xb = augment_batch(Xp[pi], config.augment, rng)
        yb = yp[pi]
        if n_replay:
            ri = replay.sample(yb, config.batch_size, rng)
            Xb = np.concatenate([Xb, to_float(data.X_train[ri])])
            yb = np.concatenate([yb, data.y_train[ri]])
        yield Xb, yb, learning_rate(config.lr, "cosine", step / config.steps)


def finetune(
    base: Network,
    personal: PersonalData,
    config: FinetuneConfig | None = None,
    data: Dataset | None = None,
    control: Control | None = None,
):
    """Fine-tune a copy of `base`; yields typed events like `core.train.train`, from the same loop.

    Start: the split and the "before" figures. Step: loss, lr, images/s. Epoch (every
    eval_every steps): the personal measure part (val_*) and MNIST test. Done: "before" and
    "after" side by side (also after a stop). The tuned network is `control.net`; `base` is
    never changed. Personal accuracy is measured on the held-out part when there is one, else
    on the examples it learns from (`measured_on` says which).
    """
    config = config or FinetuneConfig()
    if len(personal.y) == 0:
        raise ValueError("The personal set is empty: draw and label some digits first.")
    rng = np.random.default_rng(config.seed)
    data = data if data is not None else load_data(TrainConfig())
    control = control if control is not None else Control()
    net = base.copy()
    control.net = net
    opt = Optimizer("adam")
    state = opt.init(net)

    train_idx, held_idx = split_heldout(personal.keys, personal.y, config.holdout, config.seed)
    measured_on = "held-out" if len(held_idx) else "training examples"
    measure_idx = held_idx if len(held_idx) else train_idx
    Xp, yp = personal.X[train_idx], personal.y[train_idx]
    Xm, ym = personal.X[measure_idx], personal.y[measure_idx]
    n_personal = max(1, round(config.batch_size * config.personal_share))
    n_replay = config.batch_size - n_personal if config.personal_share < 1 else 0

    replay = Replay(data.y_train)
    try:
        before = measure(net, Xm, ym, data.X_test, data.y_test, control)
    except Interrupted:
        yield Stopped(0, 0.0, 0.0)
        return
    yield Start(
        n_train=len(yp),
        n_val=len(ym),
        sizes=tuple(net.sizes),
        n_params=net.n_params,
        steps_per_epoch=config.eval_every,
        total_steps=config.steps,
        epochs=math.ceil(config.steps / config.eval_every),
        extra={
            "n_personal": len(personal.y),
            "n_heldout": len(held_idx),
            "measured_on": measured_on,
            "before": before,
        },
    )

    def eval_at(step: int) -> int | None:
        if step % config.eval_every == 0 or step == config.steps:
            return math.ceil(step / config.eval_every)
        return None

    def scores(net, control) -> dict:
        now = measure(net, Xm, ym, data.X_test, data.y_test, control)
        return {
            "val_loss": now["personal_loss"],
            "val_acc": now["personal_acc"],
            "test_loss": now["mnist_loss"],
            "test_acc": now["mnist_acc"],
        }

    def advice(what: str, step: int, epoch: float) -> str:
        safer = lower_lr({"optimizer": "adam", "lr": config.lr})  # inside Adam's safe range
        lr, smaller = f"{config.lr:g}", f"{safer if safer else config.lr / 10:g}"
        return Message(
            "jobs.finetune_diverged",
            f"Fine-tuning diverged at step {step}: {what}. The learning rate {lr} is "
            f"too large. Try {smaller}. Nothing was saved.",
            step=step,
            what=what,
            lr=lr,
            smaller=smaller,
        )

    plan = Plan(
        total_steps=config.steps,
        steps_per_epoch=config.eval_every,
        log_every=config.log_every,
        eval_at=eval_at,
        measure=scores,
        advice=advice,
    )
    batches = _finetune_batches(config, Xp, yp, data, replay, n_personal, n_replay, rng)
    outcome = yield from fit(net, opt, state, batches, control, plan)
    if outcome.end == "diverged":
        return
    # Scored after the stop, never delaying it.
    yield score(
        net,
        personal,
        config,
        data,
        outcome.step,
        outcome.train_seconds,
        outcome.end == "stopped",
        before,
    )


def score(
    net: Network,
    personal: PersonalData,
    config: FinetuneConfig,
    data: Dataset,
    step: int,
    train_seconds: float,
    stopped: bool,
    before: dict,
) -> Done:
    """The Done event of tuned weights: "before" (measured at the start) and "after" side by
    side. Also scores the weights a stopped worker left behind (core.runs.tasks.ScoreTask)."""
    train_idx, held_idx = split_heldout(personal.keys, personal.y, config.holdout, config.seed)
    measure_idx = held_idx if len(held_idx) else train_idx
    Xm, ym = personal.X[measure_idx], personal.y[measure_idx]
    after = measure(net, Xm, ym, data.X_test, data.y_test)
    return Done(
        stopped=stopped,
        step=step,
        epoch=step / config.eval_every,
        val_loss=after["personal_loss"],
        val_acc=after["personal_acc"],
        test_loss=after["mnist_loss"],
        test_acc=after["mnist_acc"],
        train_seconds=train_seconds,
        extra={
            "measured_on": "held-out" if len(held_idx) else "training examples",
            "n_personal": len(personal.y),
            "n_heldout": len(held_idx),
            "before": before,
            "after": after,
        },
    )


def before_after_rows(done: dict) -> list[dict]:
    """The done metrics as table rows: what, before, after, change (accuracies in [0, 1])."""
    b, a = done["before"], done["after"]
    part = "held-out" if done["measured_on"] == "held-out" else "trained-on"
    n, mnist_n = a["personal_n"], f"{a['mnist_n']:,}"
    key = "held_out" if part == "held-out" else "trained_on"
    return [
        {
            "measured on": Message(f"my_digits.measured.{key}", f"your digits ({part}, {n})", n=n),
            "before": b["personal_acc"],
            "after": a["personal_acc"],
            "change": a["personal_acc"] - b["personal_acc"],
        },
        {
            "measured on": Message(
                "my_digits.measured.mnist", f"MNIST test ({mnist_n})", n=mnist_n
            ),
            "before": b["mnist_acc"],
            "after": a["mnist_acc"],
            "change": a["mnist_acc"] - b["mnist_acc"],
        },
    ]


def save_finetuned(
    name: str,
    net: Network,
    base,
    config: FinetuneConfig,
    done: dict,
    overwrite: bool = False,
    directory=None,
):
    """Save a fine-tuned network as a new model (never `default`); returns the .npz path.

    `base` is the Model it started from: its training config is kept, and the metadata's
    `finetune` block names the base model, the personal-set size and before/after figures.
    """
    from core.model_store import save_model

    metrics = {
        "test_loss": done["test_loss"],
        "test_acc": done["test_acc"],
        "personal_acc": done["val_acc"],
        "train_seconds": done["train_seconds"],
    }
    extra = {
        "finetune": {
            "base_model": base.name,
            "base_test_acc": done["before"]["mnist_acc"],
            "personal_set_size": done["n_personal"],
            "heldout_size": done["n_heldout"],
            "measured_on": done["measured_on"],
            "steps": done["step"],
            "stopped": done["stopped"],
            "config": config.to_dict(),
            "before": done["before"],
            "after": done["after"],
        }
    }
    return save_model(
        name,
        net,
        base.meta.get("config"),
        metrics,
        command=f"fine-tuned from {base.name} on {done['n_personal']} personal examples",
        overwrite=overwrite,
        extra=extra,
        directory=directory,
    )
