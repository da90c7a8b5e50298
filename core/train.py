"""Training from scratch: the config, the presets, `train` (a generator of typed events built on
the one loop in core.runs.loop) and the command line `python -m core.train`.

`train` never prints, plots or saves; the CLI prints what it yields, the app's job workers send
it to the server, tests take a few items. A `Control` pauses, resumes or stops it between any
two batches (or evaluation chunks) and takes a consistent copy of the weights.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from core.augment import AUGMENTS, augment_batch
from core.data import N_MNIST_TRAIN, VAL_SPLIT_SEED, Dataset, load_split, split_indices
from core.messages import Message
from core.network import ACTIVATIONS, INITS, init_network
from core.optim import OPTIMIZERS, SCHEDULES, Optimizer, learning_rate
from core.runs import doctor
from core.runs.events import Diverged, Done, Epoch, Start, Step
from core.runs.loop import EXPLODED_LOSS, Control, Plan, evaluate, fit, to_float

# Re-exported: callers have always found these here.
__all__ = [
    "EXPLODED_LOSS",
    "N_MNIST_TRAIN",
    "PRESETS",
    "VAL_SPLIT_SEED",
    "Control",
    "Dataset",
    "TrainConfig",
    "evaluate",
    "load_data",
    "preset",
    "split_indices",
    "train",
]


def _invalid(problems: list[Message]) -> Message:
    """ "Invalid training setup: a; b." with each problem sayable in the reader's language."""
    joined = problems[0]
    for more in problems[1:]:
        joined = Message("train_errors.join", f"{joined}; {more}", a=joined, b=more)
    return Message("train_errors.invalid", f"Invalid training setup: {joined}.", problems=joined)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Stored next to the weights it produced."""

    # Hidden layer sizes: 0-4 layers of 1-4096 units; () is softmax regression (784-10).
    hidden: tuple[int, ...] = (256,)
    activation: str = "relu"  # relu | leaky_relu | sigmoid | tanh
    init: str = "auto"  # auto (He for ReLU, LeCun otherwise) | he | lecun | uniform (article)
    optimizer: str = "adam"  # sgd | momentum | nesterov | adam
    lr: float = 1e-3  # step size: ~1e-4..1e-2 for Adam, ~0.01..0.5 for SGD
    momentum: float = 0.9  # momentum / Adam beta1, in [0, 1)
    schedule: str = "constant"  # constant | cosine (decays to 0) | step (x gamma every N epochs)
    step_every: int = 5  # epochs between decays, for the step schedule
    step_gamma: float = 0.1  # decay factor for the step schedule, in (0, 1]
    batch_size: int = 128  # images per step; 0 = full batch (all training images at once)
    epochs: int = 5  # passes over the training images, 1-1000
    l2: float = 0.0  # weight decay strength, 0..0.01 is sensible
    smoothing: float = 0.0  # label smoothing: targets (1 - eps) one-hot + eps / 10; 0..0.2
    augment: str = "none"  # none | shift | affine | elastic: random distortions of each batch
    val_size: int = 5_000  # images held out of the 60,000 to watch overfitting
    train_size: int = 0  # 0 = every remaining image; the article used 41,000
    seed: int = 0  # makes the run repeatable: same seed, same result
    eval_every: int = 1  # epochs between validation passes
    log_every: int = 20  # steps between step metrics

    def __post_init__(self):
        from collections.abc import Sequence
        from numbers import Integral, Real

        def whole(v) -> bool:  # int or numpy integer; not bool, not a float (even 3.0), not NaN
            return isinstance(v, Integral) and not isinstance(v, bool)

        problems = []
        # Types first, at the edge: a string "512" is not three layers of 5, 1 and 2 units, and
        # a NaN or 2.5 is not a number of epochs. numpy integers count as whole numbers.
        if isinstance(self.hidden, str | bytes) or not isinstance(self.hidden, Sequence):
            got = repr(self.hidden)
            problems.append(
                Message(
                    "train_errors.hidden_list",
                    f"hidden layers must be a list of whole numbers, got {got}",
                    got=got,
                )
            )
            self.hidden = ()
        elif not all(whole(h) for h in self.hidden):
            got = str(list(self.hidden))
            problems.append(
                Message(
                    "train_errors.hidden_whole",
                    f"hidden layer sizes must be whole numbers, got {got}",
                    got=got,
                )
            )
            self.hidden = ()
        else:
            self.hidden = tuple(int(h) for h in self.hidden)
        for name in (
            "step_every", "batch_size", "epochs", "val_size", "train_size", "seed", "eval_every",
            "log_every",
        ):  # fmt: skip
            value = getattr(self, name)
            if whole(value):
                setattr(self, name, int(value))
            else:
                problems.append(
                    Message(
                        "train_errors.whole",
                        f"{name} must be a whole number, got {value!r}",
                        name=name,
                        got=repr(value),
                    )
                )
        for name, words in (
            ("lr", Message("train_errors.field.lr", "learning rate")),
            ("momentum", Message("train_errors.field.momentum", "momentum")),
            ("step_gamma", Message("train_errors.field.step_gamma", "step decay factor")),
            ("l2", Message("train_errors.field.l2", "L2 strength")),
            ("smoothing", Message("train_errors.field.smoothing", "label smoothing")),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
                problems.append(
                    Message(
                        "train_errors.finite",
                        f"{words} must be a finite number, got {value!r}",
                        what=words,
                        got=repr(value),
                    )
                )
        if whole(self.seed) and self.seed < 0:
            problems.append(
                Message(
                    "train_errors.seed", f"seed must be 0 or more, got {self.seed}", got=self.seed
                )
            )
        if problems:  # later checks would only repeat these in other words
            raise ValueError(_invalid(problems))
        if len(self.hidden) > 4 or any(not 1 <= h <= 4096 for h in self.hidden):
            got = str(list(self.hidden))
            problems.append(
                Message(
                    "train_errors.hidden_range",
                    f"hidden layers must be 0 to 4 layers of 1-4096 units, got {got}",
                    got=got,
                )
            )
        for name, options in (
            ("activation", ACTIVATIONS),
            ("init", INITS),
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("augment", AUGMENTS),
        ):
            if getattr(self, name) not in options:
                options, got = ", ".join(options), repr(getattr(self, name))
                problems.append(
                    Message(
                        "train_errors.one_of",
                        f"{name} must be one of {options}, got {got}",
                        name=name,
                        options=options,
                        got=got,
                    )
                )
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and 0 < self.lr <= 10):
            problems.append(
                Message(
                    "train_errors.lr",
                    f"learning rate must be a number above 0 and at most 10, got {self.lr}",
                    got=self.lr,
                )
            )
        if not 0 <= self.momentum < 1:
            problems.append(
                Message(
                    "train_errors.momentum",
                    f"momentum must be in [0, 1), got {self.momentum}",
                    got=self.momentum,
                )
            )
        if not 0 < self.step_gamma <= 1:
            problems.append(
                Message(
                    "train_errors.step_gamma",
                    f"step decay factor must be in (0, 1], got {self.step_gamma}",
                    got=self.step_gamma,
                )
            )
        if self.step_every < 1:
            problems.append(
                Message(
                    "train_errors.step_every",
                    f"step schedule interval must be at least 1 epoch, got {self.step_every}",
                    got=self.step_every,
                )
            )
        if not 0 <= self.batch_size <= N_MNIST_TRAIN:
            problems.append(
                Message(
                    "train_errors.batch_size",
                    f"batch size must be between 1 and 60000 (or 0 for full batch), "
                    f"got {self.batch_size}",
                    got=self.batch_size,
                )
            )
        if not 1 <= self.epochs <= 1000:
            problems.append(
                Message(
                    "train_errors.epochs",
                    f"epochs must be between 1 and 1000, got {self.epochs}",
                    got=self.epochs,
                )
            )
        if not 0 <= self.l2 <= 1:
            problems.append(
                Message(
                    "train_errors.l2",
                    f"L2 strength must be between 0 and 1, got {self.l2}",
                    got=self.l2,
                )
            )
        if not 0 <= self.smoothing < 1:
            problems.append(
                Message(
                    "train_errors.smoothing",
                    f"label smoothing must be at least 0 and below 1, got {self.smoothing}",
                    got=self.smoothing,
                )
            )
        if not 0 <= self.val_size <= 20_000:
            problems.append(
                Message(
                    "train_errors.val_size",
                    f"validation size must be between 0 and 20000, got {self.val_size}",
                    got=self.val_size,
                )
            )
        if self.train_size < 0 or self.train_size + self.val_size > N_MNIST_TRAIN:
            most = N_MNIST_TRAIN - self.val_size
            problems.append(
                Message(
                    "train_errors.train_size",
                    f"training size must be at most {most} (60,000 minus validation), "
                    f"got {self.train_size}",
                    most=most,
                    got=self.train_size,
                )
            )
        if self.eval_every < 1 or self.log_every < 1:
            problems.append(
                Message("train_errors.every", "eval_every and log_every must be at least 1")
            )
        if problems:
            raise ValueError(_invalid(problems))

    @property
    def sizes(self) -> list[int]:
        return [784, *self.hidden, 10]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


PRESETS: dict[str, TrainConfig] = {
    # The article: 784-10-10, ReLU, weights uniform in [-0.5, 0.5], full-batch gradient
    # descent at 0.10 for 500 iterations on 41,000 images.
    "seed": TrainConfig(
        hidden=(10,),
        activation="relu",
        init="uniform",
        optimizer="sgd",
        lr=0.10,
        batch_size=0,
        epochs=500,
        train_size=41_000,
        eval_every=10,
        log_every=1,
    ),
    # 98% on the test set within 2 epochs, 98.2-98.4% after 3 (bench/train_speed.py): label
    # smoothing and a larger step reach 98% in 2 epochs where plain targets at 3e-3 took 3.5.
    "quick": TrainConfig(
        hidden=(256,),
        optimizer="adam",
        lr=5e-3,
        schedule="cosine",
        batch_size=128,
        epochs=3,
        smoothing=0.1,
    ),
    # 99.1%+ with augmentation (elastic + affine + stroke width), about 5 minutes in the app.
    "best": TrainConfig(
        hidden=(1024, 512),
        optimizer="adam",
        lr=1e-3,
        schedule="cosine",
        batch_size=128,
        epochs=30,
        augment="elastic",
    ),
    # --- failure modes: each shows one lesson, which the doctor (core/runs/doctor.py) names ---
    # Plain SGD at 3.0, six times the top of its sensible range: the loss climbs within steps.
    "exploding": TrainConfig(
        hidden=(256,), optimizer="sgd", lr=3.0, batch_size=128, epochs=1, log_every=1
    ),
    # The article's network and data with sigmoid instead of ReLU: the loss crawls.
    "vanishing": TrainConfig(
        hidden=(10,),
        activation="sigmoid",
        init="uniform",
        optimizer="sgd",
        lr=0.10,
        batch_size=0,
        epochs=150,  # the crawl shows from the start; seed's ReLU is at 68% by now, this ~45%
        train_size=41_000,
        eval_every=10,
        log_every=1,
    ),
    # SGD at 1.5: early overshoots push most ReLUs below zero for good (~70% after 2 epochs).
    "dead-relus": TrainConfig(hidden=(256,), optimizer="sgd", lr=1.5, batch_size=128, epochs=3),
    # 500 training images, many passes: 100% on them, validation loss rising.
    "overfitting": TrainConfig(
        hidden=(256,), optimizer="adam", lr=3e-3, batch_size=50, epochs=60, train_size=500
    ),
    # No hidden layer (784-10): a straight line per digit, 92-93% at most.
    "softmax": TrainConfig(hidden=(), optimizer="adam", lr=3e-3, batch_size=128, epochs=5),
}

PRESET_NOTES = {
    # Times: Start to result in the app on a 2-core machine (bench/preset_times.py).
    "seed": "The article's 784-10-10 network, full-batch gradient descent: 83-86% here "
    "(the article reported 88%), in about 45 s.",
    "quick": "One hidden layer of 256 ReLUs, Adam and label smoothing: 98% in about 6 s.",
    "best": "Two hidden layers (1024, 512), Adam, distorted digits: about 99.4% in about "
    "5 minutes.",
    "exploding": "A learning rate far too large: watch the loss per step climb instead of "
    "falling until the run stops.",
    "vanishing": "The article's network with sigmoid units: watch the loss crawl along near "
    "2.3 where ReLU's falls steadily.",
    "dead-relus": "A learning rate that knocks ReLUs out: watch accuracy stall near 95% while "
    "most hidden units never fire again.",
    "overfitting": "Only 500 training images: watch training accuracy reach 100% while "
    "validation loss turns and rises.",
    "softmax": "No hidden layer at all (softmax regression): watch both losses level off high, "
    "around 92% accuracy.",
}

# What the doctor (core/runs/doctor.py) should say for each failure preset: its diagnosis code.
PRESET_LESSONS = {
    "exploding": doctor.LR_TOO_HIGH,
    "vanishing": doctor.VANISHING,
    "dead-relus": doctor.DEAD_RELUS,
    "overfitting": doctor.OVERFITTING,
    "softmax": doctor.UNDERFITTING,
}


def preset(name: str, **overrides) -> TrainConfig:
    """A preset config with some fields replaced (validated again)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.")
    return replace(PRESETS[name], **overrides)


# --- data ---------------------------------------------------------------------------------------


def load_data(config: TrainConfig, progress=None) -> Dataset:
    """The real MNIST, split as the config asks: uint8 rows of the memory-mapped cache."""
    return load_split(config.val_size, config.train_size, progress)


# --- the loop -----------------------------------------------------------------------------------


def _divergence_advice(config: TrainConfig, what: str, step: int, epoch: float) -> str:
    # The doctor's smaller rate stays inside the range the field's help gives for this optimizer,
    # so following the advice never leads straight to another divergence (Adam at 10 -> 0.01).
    safer = doctor.lower_lr(config.to_dict())
    lr, smaller, n = f"{config.lr:g}", f"{safer if safer else config.lr / 10:g}", int(epoch) + 1
    return Message(
        "jobs.diverged",
        f"Training diverged: {what} at step {step} (epoch {n}). The learning rate "
        f"{lr} is too large for {config.optimizer}: the steps overshoot and the "
        f"weights blow up. Try {smaller}, or the 'quick' preset. "
        f"Nothing was saved.",
        what=what,
        step=step,
        epoch=n,
        lr=lr,
        optimizer=config.optimizer,
        smaller=smaller,
    )


def _batches(config: TrainConfig, data: Dataset, rng, bs: int, steps_per_epoch: int):
    """Each step's (X float32, y, learning rate): a fresh shuffle every epoch, converted to
    float and distorted (if the config asks) one batch at a time."""
    X, y = data.X_train, data.y_train
    n = len(y)
    total_steps = steps_per_epoch * config.epochs
    full = to_float(X) if bs >= n else None  # full batch: convert once, reuse every step
    step = 0
    for epoch in range(config.epochs):
        perm = rng.permutation(n) if full is None else None
        for i in range(steps_per_epoch):
            if full is not None:
                Xb, yb = full, y
            else:
                idx = perm[i * bs : (i + 1) * bs]
                Xb, yb = to_float(X[idx]), y[idx]
            Xb = augment_batch(Xb, config.augment, rng)
            lr = learning_rate(
                config.lr,
                config.schedule,
                step / total_steps,
                config.step_every,
                config.step_gamma,
                epoch=epoch,
            )
            step += 1
            yield Xb, yb, lr


def train(config: TrainConfig, data: Dataset | None = None, control: Control | None = None):
    """Train a fresh network; yields typed events (core.runs.events).

    Start: sizes and counts. Step (every log_every steps): loss, smooth_loss, lr, images/s.
    Epoch: train and validation loss and accuracy. Stopped: at once on a stop. Done: final
    validation and test figures (also after a stop, scored after training ended). Diverged: a
    reason in plain words; the run ends there. The weights are `control.net`.
    """
    rng = np.random.default_rng(config.seed)
    data = data if data is not None else load_data(config)
    control = control if control is not None else Control()
    net = init_network(config.sizes, config.activation, rng, config.init)
    opt = Optimizer(config.optimizer, beta=config.momentum)
    state = opt.init(net)
    control.net = net

    n = len(data.y_train)
    bs = min(config.batch_size or n, n)
    steps_per_epoch = math.ceil(n / bs)
    total_steps = steps_per_epoch * config.epochs
    yield Start(
        n_train=n,
        n_val=len(data.y_val),
        sizes=tuple(config.sizes),
        n_params=net.n_params,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        epochs=config.epochs,
    )

    def eval_at(step: int) -> int | None:
        epoch, within = divmod(step, steps_per_epoch)
        if within == 0 and (epoch % config.eval_every == 0 or epoch == config.epochs):
            return epoch
        return None

    last_val = {}

    def measure(net, control) -> dict:
        loss, acc = evaluate(net, data.X_val, data.y_val, control=control)
        last_val.update(val_loss=loss, val_acc=acc)
        return {"val_loss": loss, "val_acc": acc}

    plan = Plan(
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        log_every=config.log_every,
        eval_at=eval_at,
        measure=measure,
        advice=lambda what, step, epoch: _divergence_advice(config, what, step, epoch),
        l2=config.l2,
        smoothing=config.smoothing,
    )
    batches = _batches(config, data, rng, bs, steps_per_epoch)
    outcome = yield from fit(net, opt, state, batches, control, plan)
    if outcome.end == "diverged":
        return
    # Scoring comes after training has ended, so a stop never waits for it.
    stopped = outcome.end == "stopped"
    fresh = not stopped and last_val and math.isfinite(last_val["val_acc"])
    yield score(
        net,
        data,
        outcome.step,
        steps_per_epoch,
        outcome.train_seconds,
        stopped,
        last_val if fresh else None,
    )


def score(
    net,
    data: Dataset,
    step: int,
    steps_per_epoch: int,
    train_seconds: float,
    stopped: bool,
    val: dict | None = None,
) -> Done:
    """The Done event of a run's weights: validation (unless `val` has it) and test figures.

    Also scores the weights a stopped worker left behind (core.runs.tasks.ScoreTask).
    """
    if val is None:
        val_loss, val_acc = evaluate(net, data.X_val, data.y_val)
        val = {"val_loss": val_loss, "val_acc": val_acc}
    test_loss, test_acc = evaluate(net, data.X_test, data.y_test)
    return Done(
        stopped=stopped,
        step=step,
        epoch=step / steps_per_epoch,
        val_loss=val["val_loss"],
        val_acc=val["val_acc"],
        test_loss=test_loss,
        test_acc=test_acc,
        train_seconds=train_seconds,
    )


# --- command line -------------------------------------------------------------------------------


def _parse_overrides(pairs: list[str]) -> dict:
    """key=value pairs typed by the TrainConfig field they name (hidden=512,256)."""
    types = {f.name: f.type for f in fields(TrainConfig)}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in types:
            raise ValueError(
                f"Overrides look like name=value with a TrainConfig field name; "
                f"got {pair!r}. Fields: {', '.join(types)}."
            )
        if key == "hidden":
            out[key] = tuple(int(v) for v in value.split(",") if v)
        elif types[key] in ("int", int):
            out[key] = int(value)
        elif types[key] in ("float", float):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def _bar(fraction: float, width: int = 24) -> str:
    full = int(round(fraction * width))
    return "[" + "#" * full + "." * (width - full) + "]"


def main(argv=None) -> int:
    from core.threads import blas_summary, cores, set_blas_threads

    ap = argparse.ArgumentParser(
        prog="python -m core.train", description="Train a digit reader from scratch on MNIST."
    )
    ap.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    ap.add_argument("--save", metavar="NAME", help="save the trained model as weights/NAME")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing saved model")
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads (default: every core)")
    ap.add_argument("overrides", nargs="*", help="config fields, e.g. epochs=10 hidden=512,256")
    args = ap.parse_args(argv)
    try:
        config = preset(args.preset, **_parse_overrides(args.overrides))
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if args.save:
        from core.model_store import check_name

        try:
            check_name(args.save, for_writing=True, overwrite=args.overwrite, allow_default=True)
        except (ValueError, FileExistsError) as e:
            print(e, file=sys.stderr)
            return 2
    set_blas_threads(args.threads or cores())
    print(f"BLAS: {blas_summary()}")
    print(f"Config: {config.to_dict()}")
    control = Control()
    final = None
    for m in train(config, control=control):
        if isinstance(m, Start):
            print(
                f"Network {'-'.join(map(str, m.sizes))} ({m.n_params:,} parameters), "
                f"{m.n_train:,} training and {m.n_val:,} validation images, "
                f"{m.total_steps:,} steps"
            )
            total = m.total_steps
        elif isinstance(m, Step) and sys.stdout.isatty():
            print(
                f"\r{_bar(m.step / total)} step {m.step}/{total} "
                f"loss {m.smooth_loss:.4f} {m.images_per_sec:,.0f} img/s",
                end="",
                flush=True,
            )
        elif isinstance(m, Epoch):
            print(
                f"\r{_bar(m.step / total)} epoch {m.epoch:>3}/{config.epochs} "
                f"train loss {m.train_loss:.4f} acc {m.train_acc:.4f} | "
                f"val loss {m.val_loss:.4f} acc {m.val_acc:.4f} | "
                f"{m.train_seconds:.1f}s",
                flush=True,
            )
        elif isinstance(m, Diverged):
            print(f"\n{m.reason}", file=sys.stderr)
            return 1
        elif isinstance(m, Done):
            final = m
    print(
        f"Done in {final.train_seconds:.1f}s of training: validation accuracy "
        f"{final.val_acc:.4f}, test accuracy {final.test_acc:.4f}"
    )
    if args.save:
        from core.model_store import save_model

        cmd = "python -m core.train " + " ".join(argv if argv is not None else sys.argv[1:])
        path = save_model(
            args.save,
            control.net,
            config,
            final,
            command=cmd,
            overwrite=args.overwrite,
            allow_default=True,
        )
        print(f"Saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
