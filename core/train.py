"""Training: the config, the presets, and the loop, which is a generator of metrics.

The loop never prints, plots or saves; the CLI (`python -m core.train`) prints what it yields,
the app's background jobs publish it, tests take a few items. A `Control` lets another thread
pause, resume or stop it between any two batches and take a consistent copy of the weights.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache

import numpy as np

from core.augment import AUGMENTS, augment_batch
from core.network import (
    ACTIVATIONS,
    INITS,
    Network,
    backward,
    cross_entropy,
    forward,
    init_network,
    one_hot,
)
from core.optim import OPTIMIZERS, SCHEDULES, Optimizer, learning_rate
from core.runs import doctor

N_MNIST_TRAIN = 60_000
VAL_SPLIT_SEED = 20_240_601  # fixed, so every run validates on the same 5,000 images
EXPLODED_LOSS = 15.0  # a batch loss above this (and 3x the first) counts as divergence


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
    augment: str = "none"  # none | shift | affine | elastic: random distortions of each batch
    val_size: int = 5_000  # images held out of the 60,000 to watch overfitting
    train_size: int = 0  # 0 = every remaining image; the article used 41,000
    seed: int = 0  # makes the run repeatable: same seed, same result
    eval_every: int = 1  # epochs between validation passes
    log_every: int = 20  # steps between step metrics

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        problems = []
        if len(self.hidden) > 4 or any(not 1 <= h <= 4096 for h in self.hidden):
            problems.append(
                f"hidden layers must be 0 to 4 layers of 1-4096 units, got {list(self.hidden)}"
            )
        for name, options in (
            ("activation", ACTIVATIONS),
            ("init", INITS),
            ("optimizer", OPTIMIZERS),
            ("schedule", SCHEDULES),
            ("augment", AUGMENTS),
        ):
            if getattr(self, name) not in options:
                problems.append(
                    f"{name} must be one of {', '.join(options)}, got {getattr(self, name)!r}"
                )
        if not (isinstance(self.lr, int | float) and math.isfinite(self.lr) and 0 < self.lr <= 10):
            problems.append(f"learning rate must be a number above 0 and at most 10, got {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 < self.step_gamma <= 1:
            problems.append(f"step decay factor must be in (0, 1], got {self.step_gamma}")
        if self.step_every < 1:
            problems.append(
                f"step schedule interval must be at least 1 epoch, got {self.step_every}"
            )
        if not 0 <= self.batch_size <= N_MNIST_TRAIN:
            problems.append(
                f"batch size must be between 1 and 60000 (or 0 for full batch), "
                f"got {self.batch_size}"
            )
        if not 1 <= self.epochs <= 1000:
            problems.append(f"epochs must be between 1 and 1000, got {self.epochs}")
        if not 0 <= self.l2 <= 1:
            problems.append(f"L2 strength must be between 0 and 1, got {self.l2}")
        if not 0 <= self.val_size <= 20_000:
            problems.append(f"validation size must be between 0 and 20000, got {self.val_size}")
        if self.train_size < 0 or self.train_size + self.val_size > N_MNIST_TRAIN:
            problems.append(
                f"training size must be at most {N_MNIST_TRAIN - self.val_size} "
                f"(60,000 minus validation), got {self.train_size}"
            )
        if self.eval_every < 1 or self.log_every < 1:
            problems.append("eval_every and log_every must be at least 1")
        if problems:
            raise ValueError("Invalid training setup: " + "; ".join(problems) + ".")

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
    # 98% on the test set in a few seconds.
    "quick": TrainConfig(
        hidden=(256,), optimizer="adam", lr=3e-3, schedule="cosine", batch_size=128, epochs=5
    ),
    # 99.1%+ with augmentation (elastic + affine + stroke width), about three minutes.
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
    "seed": "The article's 784-10-10 network, full-batch gradient descent: 83-86% here "
    "(the article reported 88%).",
    "quick": "One hidden layer of 256 ReLUs with Adam: 98% in a few seconds.",
    "best": "Two hidden layers (1024, 512), Adam, distorted digits: about 99.4% in about "
    "3 minutes.",
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


@dataclass
class Dataset:
    """MNIST as float32 in [0, 1]: X is (n, 784), y is (n,) uint8."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@lru_cache(maxsize=1)
def _mnist_float():
    from core.data import load_mnist

    x_train, y_train, x_test, y_test = load_mnist()
    scale = np.float32(1 / 255)
    return x_train.astype(np.float32) * scale, y_train, x_test.astype(np.float32) * scale, y_test


def split_indices(val_size: int, train_size: int = 0, n: int = N_MNIST_TRAIN):
    """A fixed shuffle of the 60,000: the first val_size are validation, then training."""
    order = np.random.default_rng(VAL_SPLIT_SEED).permutation(n)
    val, rest = order[:val_size], order[val_size:]
    return (rest[:train_size] if train_size else rest), val


def load_data(config: TrainConfig) -> Dataset:
    """The real MNIST, split as the config asks (pixels / 255)."""
    X, y, X_test, y_test = _mnist_float()
    tr, va = split_indices(config.val_size, config.train_size, len(y))
    return Dataset(X[tr], y[tr], X[va], y[va], X_test, y_test)


def evaluate(net: Network, X, y, batch: int = 10_000) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a data set, in batches to bound memory."""
    if len(y) == 0:
        return float("nan"), float("nan")
    loss_sum, correct = 0.0, 0
    for i in range(0, len(y), batch):
        P = forward(net, X[i : i + batch])
        loss_sum += cross_entropy(P, y[i : i + batch]) * len(P)
        correct += int((P.argmax(1) == y[i : i + batch]).sum())
    return loss_sum / len(y), correct / len(y)


# --- control from another thread --------------------------------------------------------------


class Control:
    """Pause, resume and stop a running `train` from another thread; snapshot its weights."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self.lock = threading.Lock()  # held while the optimizer changes the weights
        self.net: Network | None = None

    def pause(self):
        self._running.clear()

    def resume(self):
        self._running.set()

    def stop(self):
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait(self) -> bool:
        """Block while paused; True when training should stop."""
        while not self._running.wait(0.05):
            pass
        return self._stop.is_set()

    def snapshot(self) -> Network | None:
        """A copy of the current weights, never half-way through an update."""
        with self.lock:
            return None if self.net is None else self.net.copy()


# --- the loop -----------------------------------------------------------------------------------


def _divergence_advice(config: TrainConfig, what: str, step: int, epoch: int) -> str:
    return (
        f"Training diverged: {what} at step {step} (epoch {epoch + 1}). The learning rate "
        f"{config.lr:g} is too large for {config.optimizer}: the steps overshoot and the "
        f"weights blow up. Try {config.lr / 10:g} (ten times smaller), or the 'quick' preset. "
        f"Nothing was saved."
    )


def train(config: TrainConfig, data: Dataset | None = None, control: Control | None = None):
    """Train a fresh network; yields metric dicts, one `kind` each.

    start: sizes and counts. step (every log_every steps): loss, smooth_loss, lr, images/s.
    epoch: train and validation loss and accuracy. done: final validation and test figures
    (also after a stop). diverged: a reason in plain words; the run ends there.
    The trained weights are `control.net` (pass a Control to keep a handle on them).
    """
    rng = np.random.default_rng(config.seed)
    data = data if data is not None else load_data(config)
    control = control if control is not None else Control()
    net = init_network(config.sizes, config.activation, rng, config.init)
    opt = Optimizer(config.optimizer, beta=config.momentum)
    state = opt.init(net)
    control.net = net

    X, y = data.X_train, data.y_train
    n = len(y)
    bs = min(config.batch_size or n, n)
    steps_per_epoch = math.ceil(n / bs)
    total_steps = steps_per_epoch * config.epochs
    yield {
        "kind": "start",
        "n_train": n,
        "n_val": len(data.y_val),
        "sizes": config.sizes,
        "n_params": net.n_params,
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "epochs": config.epochs,
    }

    step, smooth, first_loss = 0, None, None
    train_seconds, window_images, window_seconds = 0.0, 0, 0.0
    stopped = False
    last_val = (float("nan"), float("nan"))
    for epoch in range(config.epochs):
        perm = rng.permutation(n) if bs < n else None
        ep_loss, ep_correct, ep_seen, ep_t0 = 0.0, 0, 0, train_seconds
        for i in range(steps_per_epoch):
            if control.wait():
                stopped = True
                break
            t0 = time.perf_counter()
            if perm is None:
                Xb, yb = X, y
            else:
                idx = perm[i * bs : (i + 1) * bs]
                Xb, yb = X[idx], y[idx]
            Xb = augment_batch(Xb, config.augment, rng)
            lr = learning_rate(
                config.lr,
                config.schedule,
                step / total_steps,
                config.step_every,
                config.step_gamma,
                epoch=epoch,
            )
            trace = forward(net, Xb, keep=True)
            loss = cross_entropy(trace.P, yb)
            first_loss = loss if first_loss is None else first_loss
            if not math.isfinite(loss) or not np.isfinite(trace.P).all():
                yield {
                    "kind": "diverged",
                    "step": step,
                    "epoch": epoch,
                    "reason": _divergence_advice(
                        config, "the loss became NaN or infinite", step, epoch
                    ),
                }
                return
            smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
            # A sane network's loss stays near or below ln(10) = 2.3 (guessing); a jump far
            # above where it started means the steps overshoot, even if it later falls back
            # (usually to a network of dead ReLUs stuck at chance).
            if loss > max(3 * first_loss, EXPLODED_LOSS):
                yield {
                    "kind": "diverged",
                    "step": step,
                    "epoch": epoch,
                    "reason": _divergence_advice(
                        config,
                        f"the loss exploded from {first_loss:.2f} to {loss:.2f}",
                        step,
                        epoch,
                    ),
                }
                return
            grads = backward(net, trace, one_hot(yb, 10))
            if config.l2:
                for W, dW in zip(net.W, grads.W, strict=True):
                    dW += np.float32(config.l2) * W  # d/dW of (l2 / 2) ||W||^2
            with control.lock:
                opt.step(net, grads, state, lr)
            dt = time.perf_counter() - t0
            train_seconds += dt
            window_seconds += dt
            window_images += len(yb)
            ep_loss += loss * len(yb)
            ep_correct += int((trace.P.argmax(1) == yb).sum())
            ep_seen += len(yb)
            step += 1
            if step % config.log_every == 0 or step == total_steps:
                yield {
                    "kind": "step",
                    "step": step,
                    "epoch": step / steps_per_epoch,
                    "loss": loss,
                    "smooth_loss": smooth,
                    "lr": lr,
                    "images_per_sec": window_images / max(window_seconds, 1e-9),
                    "train_seconds": train_seconds,
                }
                window_images, window_seconds = 0, 0.0
        if stopped:
            break
        last_epoch = epoch == config.epochs - 1
        if (epoch + 1) % config.eval_every == 0 or last_epoch:
            last_val = evaluate(net, data.X_val, data.y_val)
            yield {
                "kind": "epoch",
                "epoch": epoch + 1,
                "train_loss": ep_loss / ep_seen,
                "train_acc": ep_correct / ep_seen,
                "val_loss": last_val[0],
                "val_acc": last_val[1],
                "seconds": train_seconds - ep_t0,
                "train_seconds": train_seconds,
                "step": step,
            }

    if stopped or not math.isfinite(last_val[1]):
        last_val = evaluate(net, data.X_val, data.y_val)
    test_loss, test_acc = evaluate(net, data.X_test, data.y_test)
    yield {
        "kind": "done",
        "stopped": stopped,
        "step": step,
        "epoch": step / steps_per_epoch,
        "val_loss": last_val[0],
        "val_acc": last_val[1],
        "test_loss": test_loss,
        "test_acc": test_acc,
        "train_seconds": train_seconds,
    }


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
        kind = m["kind"]
        if kind == "start":
            print(
                f"Network {'-'.join(map(str, m['sizes']))} ({m['n_params']:,} parameters), "
                f"{m['n_train']:,} training and {m['n_val']:,} validation images, "
                f"{m['total_steps']:,} steps"
            )
            total = m["total_steps"]
        elif kind == "step" and sys.stdout.isatty():
            print(
                f"\r{_bar(m['step'] / total)} step {m['step']}/{total} "
                f"loss {m['smooth_loss']:.4f} {m['images_per_sec']:,.0f} img/s",
                end="",
                flush=True,
            )
        elif kind == "epoch":
            print(
                f"\r{_bar(m['step'] / total)} epoch {m['epoch']:>3}/{config.epochs} "
                f"train loss {m['train_loss']:.4f} acc {m['train_acc']:.4f} | "
                f"val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f} | "
                f"{m['train_seconds']:.1f}s",
                flush=True,
            )
        elif kind == "diverged":
            print(f"\n{m['reason']}", file=sys.stderr)
            return 1
        elif kind == "done":
            final = m
    print(
        f"Done in {final['train_seconds']:.1f}s of training: validation accuracy "
        f"{final['val_acc']:.4f}, test accuracy {final['test_acc']:.4f}"
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
