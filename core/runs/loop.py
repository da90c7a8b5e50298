"""The one training loop, shared by training from scratch and fine-tuning.

`fit` takes a network, an optimizer and a stream of batches and yields typed events (core.runs
.events): the step, the meter (bias-corrected smoothing, images/s), the divergence watch and the
control checks live here once. What differs between kinds of run (where batches come from,
what is measured) is passed in. It never prints, saves or knows about processes or pages.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from core.messages import Message
from core.network import Network, backward, cross_entropy, forward, one_hot, smooth_labels
from core.optim import Optimizer, OptimizerState
from core.runs.events import Diverged, Epoch, Step, Stopped

SMOOTHING = 0.95  # the loss curve's moving average keeps 95% of the past at each step
EXPLODED_LOSS = 15.0  # a batch loss above this (and 3x the first) counts as divergence
CLIMB_STEPS = 5  # after an explosion, steps kept (and logged) while the loss still climbs
EVAL_FLOPS = 2e9  # multiply-adds per evaluation chunk: about 0.1 s, so a stop never waits long
PIXEL_SCALE = np.float32(1 / 255)


class Interrupted(Exception):
    """A stop arrived in the middle of an evaluation."""


# --- control from another thread (or, through its events, another process) -------------------


class Control:
    """Pause, resume and stop a running loop from elsewhere; snapshot its weights.

    The two events may be multiprocessing events, so a server process steers a worker; `board`
    (optional) is where the loop publishes its weights for readers in other processes.
    """

    def __init__(self, stop_event=None, run_event=None, board=None, threads=None):
        self._stop = stop_event if stop_event is not None else threading.Event()
        if run_event is None:
            run_event = threading.Event()
            run_event.set()
        self._running = run_event
        self.lock = threading.Lock()  # held while the optimizer changes the weights
        self.net: Network | None = None
        self.board = board
        self.threads = threads  # anything with .value: BLAS threads to use (another process
        self._applied = None  # may change it while the loop runs), or None to leave them be
        self.apply_threads()

    def apply_threads(self) -> None:
        """Use the BLAS thread count asked for now, if it changed (the loop calls it each step)."""
        if self.threads is not None and self.threads.value != self._applied:
            from core.threads import set_blas_threads

            self._applied = set_blas_threads(self.threads.value)

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
        """Block while paused (publishing the weights once); True when the loop should stop.
        Also takes up a new BLAS thread count."""
        self.apply_threads()
        if not self._running.is_set():
            self.publish(force=True)
        while not self._running.wait(0.05):
            pass
        return self._stop.is_set()

    def publish(self, force: bool = False) -> None:
        """Hand the current weights to the board, if there is one (it limits its own rate)."""
        if self.board is not None and self.net is not None:
            self.board.publish(self.net, force=force)

    def snapshot(self) -> Network | None:
        """A copy of the current weights, never half-way through an update."""
        with self.lock:
            return None if self.net is None else self.net.copy()


# --- measuring ----------------------------------------------------------------------------------


def to_float(X) -> np.ndarray:
    """Pixels as float32 in [0, 1]: uint8 rows are scaled by 1/255, floats pass unchanged."""
    X = np.asarray(X)
    return X.astype(np.float32) * PIXEL_SCALE if X.dtype == np.uint8 else X


def eval_chunk(net: Network) -> int:
    """Rows per evaluation chunk for this network: about EVAL_FLOPS of work each."""
    return int(min(10_000, max(16, EVAL_FLOPS // max(net.n_params, 1))))


def evaluate(net: Network, X, y, batch: int | None = None, control: Control | None = None):
    """(mean cross-entropy, accuracy) over a data set, in chunks to bound memory and time.

    X may be uint8 pixels (converted chunk by chunk) or floats in [0, 1]. With a `control`, a
    stop between two chunks raises Interrupted.
    """
    if len(y) == 0:
        return float("nan"), float("nan")
    batch = batch or eval_chunk(net)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(y), batch):
        if control is not None and control.stopped:
            raise Interrupted
        P = forward(net, to_float(X[i : i + batch]))
        yb = y[i : i + batch]
        loss_sum += cross_entropy(P, yb) * len(P)
        correct += int((P.argmax(1) == yb).sum())
    return loss_sum / len(y), correct / len(y)


class Meter:
    """The loss's moving average, bias-corrected, and images per second over a window.

    s_t = b s_{t-1} + (1 - b) loss_t starts at 0, so it is divided by (1 - b^t): the first
    values are the loss itself rather than a curve climbing up from zero. b = 0 (full batch,
    where each step sees every image) makes the shown value the raw loss.
    """

    def __init__(self, beta: float = SMOOTHING):
        self.beta = beta
        self.s, self.t = 0.0, 0
        self.seconds = 0.0  # training time, evaluation excluded
        self._images, self._window = 0, 0.0

    def add(self, loss: float, images: int, seconds: float) -> None:
        self.t += 1
        self.s = self.beta * self.s + (1 - self.beta) * loss
        self.seconds += seconds
        self._window += seconds
        self._images += images

    @property
    def smooth(self) -> float:
        return self.s / (1 - self.beta**self.t) if self.t else float("nan")

    def rate(self) -> float:
        """Images per second since the last call."""
        r = self._images / max(self._window, 1e-9)
        self._images, self._window = 0, 0.0
        return r


class Watch:
    """Decides when a run has diverged: at once on NaN, or after a short climb on an explosion.

    A sane network's loss stays near or below ln(10) = 2.3 (guessing); a jump far above where it
    started means the steps overshoot, even if it later falls back (usually to dead ReLUs stuck
    at chance). The loop keeps going for a few steps while it climbs, so the chart shows it.
    """

    def __init__(self, climb_steps: int = CLIMB_STEPS):
        self.climb_steps = climb_steps
        self.first = None
        self.prev = None
        self.climbed = None  # steps since the explosion, None before one

    @property
    def exploding(self) -> bool:
        return self.climbed is not None

    def check(self, loss: float, P: np.ndarray) -> str | None:
        """None while training may go on; else what went wrong, in words."""
        if not math.isfinite(loss) or not np.isfinite(P).all():
            return Message("jobs.nan", "the loss became NaN or infinite")
        self.first = loss if self.first is None else self.first
        try:
            if self.climbed is None:
                if loss > max(3 * self.first, EXPLODED_LOSS):
                    self.climbed = 0
                return None
            self.climbed += 1
            if loss <= self.prev or self.climbed >= self.climb_steps:
                first, peak = f"{self.first:.2f}", f"{max(loss, self.prev):.2f}"
                return Message(
                    "jobs.exploded",
                    f"the loss exploded from {first} to {peak}",
                    first=first,
                    peak=peak,
                )
            return None
        finally:
            self.prev = loss


# --- the loop -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """What `fit` needs to know beyond the batches.

    eval_at(step) -> the epoch number to report after that step, or None for no evaluation.
    measure(net, control) -> {"val_loss", "val_acc"[, "test_loss", "test_acc"]}; it may raise
    Interrupted. advice(what, step, epoch) -> the sentence shown when the run diverges.
    l2: weight decay strength. smoothing: label smoothing eps; the gradient is that of the
    cross-entropy against the smoothed targets, while the loss reported stays the plain
    cross-entropy against the true labels, so the curves of any two runs compare.
    """

    total_steps: int
    steps_per_epoch: int
    log_every: int
    eval_at: Callable[[int], int | None]
    measure: Callable[[Network, Control], dict]
    advice: Callable[[str, int, float], str]
    l2: float = 0.0
    smoothing: float = 0.0


@dataclass
class Outcome:
    """How `fit` ended: "done", "stopped" or "diverged", after `step` steps."""

    end: str
    step: int
    train_seconds: float


Batches = Iterable[tuple[np.ndarray, np.ndarray, float]]
"""(X float32 (m, 784), y (m,), learning rate) for each step, in order."""


def fit(net: Network, opt: Optimizer, state: OptimizerState, batches: Batches, control, plan):
    """Train `net` in place on each batch; yields Step, Epoch, Stopped, Diverged events.

    Returns an Outcome (use `outcome = yield from fit(...)`). The weights change only under
    `control.lock`, so `control.snapshot()` is always a consistent copy.
    """
    full_batch = plan.steps_per_epoch == 1
    meter, watch = Meter(0.0 if full_batch else SMOOTHING), Watch()
    step, last_eval_seconds = 0, 0.0
    span_loss, span_correct, span_seen = 0.0, 0, 0
    control.net = net

    def stopped_here():
        control.publish(force=True)
        return Stopped(step, step / plan.steps_per_epoch, meter.seconds)

    for Xb, yb, lr in batches:
        if control.wait():
            yield stopped_here()
            return Outcome("stopped", step, meter.seconds)
        t0 = time.perf_counter()
        trace = forward(net, Xb, keep=True)
        loss = cross_entropy(trace.P, yb)
        what = watch.check(loss, trace.P)
        if what is not None:
            epoch = step / plan.steps_per_epoch
            control.publish(force=True)
            yield Diverged(step, epoch, plan.advice(what, step, epoch))
            return Outcome("diverged", step, meter.seconds)
        Y = one_hot(yb, 10)
        if plan.smoothing:
            Y = smooth_labels(Y, plan.smoothing)
        grads = backward(net, trace, Y)
        if plan.l2:
            for W, dW in zip(net.W, grads.W, strict=True):
                dW += np.float32(plan.l2) * W  # d/dW of (l2 / 2) ||W||^2
        with control.lock:
            opt.step(net, grads, state, lr)
        control.publish()
        step += 1
        meter.add(loss, len(yb), time.perf_counter() - t0)
        span_loss += loss * len(yb)
        span_correct += int((trace.P.argmax(1) == yb).sum())
        span_seen += len(yb)
        epoch_no = None if watch.exploding else plan.eval_at(step)
        # A step event before each evaluation too, so where the run stands never lags an epoch.
        logged = step % plan.log_every == 0 or step == plan.total_steps
        if logged or watch.exploding or epoch_no is not None:
            yield Step(
                step=step,
                epoch=step / plan.steps_per_epoch,
                loss=loss,
                smooth_loss=loss if watch.exploding else meter.smooth,
                lr=lr,
                images_per_sec=meter.rate(),
                train_seconds=meter.seconds,
            )
        if epoch_no is not None:
            try:
                scores = plan.measure(net, control)
            except Interrupted:
                yield stopped_here()
                return Outcome("stopped", step, meter.seconds)
            yield Epoch(
                epoch=epoch_no,
                step=step,
                train_loss=span_loss / span_seen,
                train_acc=span_correct / span_seen,
                seconds=meter.seconds - last_eval_seconds,
                train_seconds=meter.seconds,
                **scores,
            )
            last_eval_seconds = meter.seconds
            span_loss, span_correct, span_seen = 0.0, 0, 0
    control.publish(force=True)
    return Outcome("done", step, meter.seconds)
