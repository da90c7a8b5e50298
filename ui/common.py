"""What every page shares: the workspace, its training job, the model in use, the sidebar.

Pages call these and stay thin. This module (with pages/) is where streamlit lives; it reads
jobs only through core.jobs snapshots and never runs training itself. Contract for other pages:
`current_workspace()`, `current_model()`, `require_model()`, `model_picker(key)`,
`render_sidebar()`, `session_id()`, `predict(model, x28)`.

Who is who: on localhost everything belongs to the one workspace "local". When the app is
shared (NNDIGITS_SHARED=1, or a server.address other than loopback) each signed-in user
(`st.login`, OpenID Connect configured in .streamlit/secrets.toml) gets a workspace; without
sign-in configured everyone shares the "guest" workspace and every page says so. A job belongs to
the workspace that started it: the UI reattaches and controls only jobs of its own workspace.
"""

from __future__ import annotations

import math
import os
import threading
import uuid
from pathlib import Path

import streamlit as st

from core import jobs
from core.jobs import JobView, get_manager
from core.model_store import DEFAULT, Model, ModelFileError
from core.runs.history import RUNS_DIR_META, record_finished
from core.store import workspace
from core.store.workspace import Workspace
from core.train import TrainConfig
from ui.i18n import catalog, language_switch, say, t

APP_BLAS_THREADS = 1  # the server's own products (reading a drawing) use one BLAS thread
# Seconds between redraws of a live run. Each redraw costs the browser 0.1-0.3 s of CPU (the
# charts most), taken from training when both share a laptop's cores (bench/app_speed.py).
LIVE_EVERY = 1.0
TRAIN = "train"  # the job kind of the Train page
TRAIN_PAGE = "train"  # the Train page's URL path (st.Page infers it from pages/train.py)
JOB_PARAM = "job"  # URL query parameter carrying this session's training job id
LIVE = "__in_training__"  # model choice meaning "the network this session is training"
MODEL_KEY = "model_choice"  # session_state: the chosen model's name, or LIVE
KEEP_PREFIX = "cfg_"  # widget keys kept when the user visits another page
BEFORE_LIVE = "model_before_live"  # session_state: the model in use before the last Start
MODEL_NOTICE = "model_notice"  # session_state: why the model in use is not the one chosen
SETUP_KEY = "train_setup"  # session_state: the Train setup as last shown, {preset, values}
LOAD_SETUP = "load_setup"  # session_state: a past run's setup for the Train page to load

SHARED_ENV = "NNDIGITS_SHARED"  # "1": this server is shared, whatever address it listens on
LOOPBACK = ("127.0.0.1", "localhost", "::1")

_setup_lock = threading.Lock()
_setup_done = False


def setup_app() -> None:
    """Once per process: give NumPy one BLAS thread (OpenBLAS' pool is process wide). On every
    run, a cheap check: the job manager (a new one, too) keeps every finished run in its
    workspace's history, seen by a page or not (Ray's manager lives in the cluster: there the
    pages record the runs they see end)."""
    global _setup_done
    with _setup_lock:
        if not _setup_done:
            from core.threads import set_blas_threads

            set_blas_threads(APP_BLAS_THREADS)
            _setup_done = True
        manager = get_manager()
        if isinstance(manager, jobs.JobManager) and manager.on_complete is None:
            manager.on_complete = record_finished


def ensure_app_navigation() -> None:
    """Call first in every page file: it makes sure the page runs inside app.py's navigation.

    A folder called pages/ makes Streamlit start each server process (and each AppTest run) in
    its old multipage mode, until app.py's st.navigation has run once: a first request for
    /train right after a server start would run pages/train.py on its own, without app.py's
    sidebar and with a menu of file names. Switching that mode off and rerunning fixes it; the
    rerun keeps the requested page, whose id is the same in both modes.
    """
    from streamlit.runtime.pages_manager import PagesManager  # no public switch for this

    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()


def session_id() -> str:
    """A random id for this browser session (a reload starts a new one)."""
    return st.session_state.setdefault("session_id", uuid.uuid4().hex)


def owner_id() -> str:
    """Who owns this session's jobs: the workspace id, fixed when a job is submitted.

    Jobs refuse control calls (and reattaching after a reload) from any other owner, so
    knowing a run's id is not enough to take it over; a reload, which starts a new session in
    the same workspace, still finds its run by the id in the URL.
    """
    return current_workspace().id


# --- whose app this is ----------------------------------------------------------------------------


def is_shared() -> bool:
    """Whether people other than the one at this computer can reach the app.

    `make run` pins server.address to 127.0.0.1 (also in .streamlit/config.toml); `make share`
    listens on every interface and sets NNDIGITS_SHARED=1. An address that is not loopback
    counts as shared even without the variable.
    """
    if os.environ.get(SHARED_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    address = st.get_option("server.address")
    return bool(address) and address not in LOOPBACK


def sign_in_configured() -> bool:
    """Whether .streamlit/secrets.toml has an [auth] section for st.login."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all (StreamlitSecretNotFoundError) or a broken one
        return False


def _user() -> dict:
    try:
        return st.user.to_dict()
    except Exception:
        return {}


def current_workspace() -> Workspace:
    """This session's workspace: "local" on localhost; the signed-in user's when shared (a
    visitor who is not signed in is shown the sign-in prompt and the script stops)."""
    if not is_shared():
        return workspace.local()
    if not sign_in_configured():
        return workspace.guest()
    user = _user()
    if not user.get("is_logged_in"):
        _sign_in_prompt()
    return workspace.for_user(user.get("iss"), user.get("sub"), user.get("email"))


def _sign_in_prompt() -> None:
    st.title(t("common.app_name"))
    st.info(t("common.sign_in.info"), icon=":material/lock:")
    st.button(
        t("common.sign_in.button"), type="primary", icon=":material/login:", on_click=st.login
    )
    st.stop()


def render_access() -> None:
    """Who this workspace belongs to (sidebar) and, on a shared server without sign-in, a
    banner on every page saying that everything here is everyone's."""
    if not is_shared():
        return
    ws = current_workspace()
    if ws.id == workspace.GUEST:
        st.warning(t("common.guest_banner"), icon=":material/group:")
        return
    with st.sidebar:
        st.caption(t("common.signed_in_as", who=ws.label))
        st.button(
            t("common.sign_out"), key="sign_out", icon=":material/logout:", on_click=st.logout
        )


def keep_widget_state(prefix: str = KEEP_PREFIX) -> None:
    """Keep widget values whose key starts with `prefix` while another page is shown.

    Streamlit forgets a widget's value on any run where the widget is not drawn; writing the
    value back to session_state (the documented workaround) keeps the Train setup intact.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(prefix):
            st.session_state[key] = st.session_state[key]


def runs_dir() -> Path:
    """Where this workspace keeps its runs history (its runs/ folder)."""
    return current_workspace().runs


def run_again(preset: str | None, config: dict, label: str) -> None:
    """Open the Train page with a past run's setup filled in ("Run again with one change")."""
    st.session_state[LOAD_SETUP] = {"preset": preset or "quick", "values": config, "label": label}
    st.switch_page("pages/train.py")


# --- this session's training job --------------------------------------------------------------


def browser_here() -> bool:
    """Whether this session's browser runs on the server's machine (a loopback connection, or
    no connection at all in tests): it then competes with training for the same cores."""
    return st.context.ip_address is None


def train_job_id() -> str | None:
    """This session's training job id, reattached from the URL after a reload; sends a heartbeat.

    The id also goes (back) into the URL on every page, so a reload anywhere finds the job.
    """
    state = st.session_state
    manager = get_manager()
    job_id = state.get("train_job") or st.query_params.get(JOB_PARAM)
    view = manager.view(job_id)
    mine = view is not None and view.kind == TRAIN
    if mine and manager.touch(job_id, owner_id(), browser_here()):
        if "train_job" not in state:  # reattached after a reload: read with it, as before
            state.setdefault(MODEL_KEY, LIVE)
        state["train_job"] = job_id
        if st.query_params.get(JOB_PARAM) != job_id:
            st.query_params[JOB_PARAM] = job_id
        return job_id
    state.pop("train_job", None)
    if JOB_PARAM in st.query_params:
        del st.query_params[JOB_PARAM]
    return None


def train_job_view() -> JobView | None:
    """A snapshot of this session's training job, or None."""
    return get_manager().view(train_job_id())


def start_training(config: TrainConfig, preset_name: str) -> str:
    """Replace this session's training job with a new one; the model picker follows it.

    Raises JobRefused (a ValueError, with a message for the user) when the setup is over the
    memory budget or the queue is full; the old run is kept then.
    """
    manager = get_manager()
    task = jobs.training_job(config)  # refuses an over-budget setup before anything changes
    old = train_job_id()
    job_id = manager.submit(
        TRAIN,
        task,
        owner=owner_id(),
        meta={
            "config": config.to_dict(),
            "preset": preset_name,
            RUNS_DIR_META: str(runs_dir()),  # kept in the history even if no page sees its end
        },
    )
    if old:
        manager.forget(old, owner_id())
    st.session_state["train_job"] = job_id
    st.query_params[JOB_PARAM] = job_id
    if st.session_state.get(MODEL_KEY, DEFAULT) != LIVE:
        st.session_state[BEFORE_LIVE] = st.session_state.get(MODEL_KEY, DEFAULT)
    st.session_state[MODEL_KEY] = LIVE
    st.session_state.pop(MODEL_NOTICE, None)
    st.session_state.pop("saved_as", None)
    return job_id


def save_trained(name: str, overwrite: bool = False):
    """Save this session's trained network as NAME; ValueError/FileExistsError say what's wrong.

    Never replaces `default`, and replaces another model only with overwrite=True.
    """
    manager = get_manager()
    job_id = train_job_id()
    view = manager.view(job_id)
    net = manager.snapshot(job_id, owner_id())
    if view is None or net is None or "done" not in view.last:
        raise ValueError(t("common.nothing_to_save"))
    path = current_workspace().save_model(
        name.strip(),
        net,
        TrainConfig.from_dict(view.meta["config"]),
        metrics=dict(view.last["done"]),
        command=f"Train page, preset {view.meta.get('preset')!r}",
        overwrite=overwrite,
    )
    st.session_state["saved_as"] = name.strip()
    st.session_state[MODEL_KEY] = name.strip()
    from ui.runs import note_saved

    note_saved(view.id, name.strip())
    return path


# --- the model in use ---------------------------------------------------------------------------


def live_model() -> Model | None:
    """The network this session is training (or just trained), as a Model; None if there is none.

    The weights are a consistent copy taken now, so each call sees the latest training step.
    """
    manager = get_manager()
    job_id = train_job_id()
    view = manager.view(job_id)
    if view is None:
        return None
    net = manager.snapshot(job_id, owner_id())
    if net is None:
        return None
    done, epoch = view.last.get("done"), view.last.get("epoch")
    if view.active:
        where = progress_label(view)
        val = epoch["val_acc"] if epoch and math.isfinite(epoch["val_acc"]) else None
        so_far = (
            t("common.live.on_validation", acc=f"{val:.1%}")
            if val is not None
            else t("common.live.not_evaluated")
        )
        name = (
            t("common.live.training_at", where=where, so_far=so_far)
            if where
            else t("common.live.training")
        )
        metrics = {"val_acc": val} if val is not None else {}
    else:
        saved = st.session_state.get("saved_as")
        name = t("common.live.trained_saved", name=saved) if saved else t("common.live.trained")
        metrics = {k: v for k, v in (done or {}).items() if k != "kind"}
    meta = {
        "live": True,
        "job_id": view.id,
        "status": view.status,
        "config": view.meta.get("config"),
        "metrics": metrics,
    }
    return Model(name, net, meta)


def live_unusable(view: JobView | None) -> str | None:
    """Why a finished run's weights must not read digits (diverged, failed, or stopped before
    its first evaluation), in words; None when they may."""
    if view is None or not view.finished:
        return None
    if view.status == jobs.DIVERGED:
        return t("common.why.diverged")
    if view.status == jobs.FAILED:
        return t("common.why.failed")
    if view.status == jobs.STOPPED and "epoch" not in view.last:
        return t("common.why.stopped_early")
    return None


def current_model() -> Model | None:
    """The model the user chose (the live one, a saved one, or `default`); None if it won't load.

    When it won't load, `model_problem()` says why. A run that diverged, failed or stopped before
    its first evaluation is never used: the choice falls back to the model in use before it
    started, and `model_notice()` says so.
    """
    state = st.session_state
    choice = state.get(MODEL_KEY, DEFAULT)
    if choice == LIVE:
        why = live_unusable(train_job_view())
        if why:
            fallback = state.get(BEFORE_LIVE, DEFAULT)
            state[MODEL_NOTICE] = t("common.notice", fallback=fallback, why=why)
            choice = state[MODEL_KEY] = fallback
    if choice == LIVE:
        model = live_model()
        if model is not None:
            state.pop("model_problem", None)
            return model
        if train_job_id() is None:
            choice = state[MODEL_KEY] = DEFAULT  # the run is gone: back to the shipped model
        else:
            choice = DEFAULT  # the run has no weights yet (queued, loading data): use default
    try:
        model = current_workspace().load_model(choice)
    except (ModelFileError, ValueError) as e:
        state["model_problem"] = (choice, e.args[0] if len(e.args) == 1 else str(e))
        return None
    state.pop("model_problem", None)
    return model


def model_notice() -> str | None:
    """Why the model in use is not the run the user was watching, or None."""
    return st.session_state.get(MODEL_NOTICE)


def model_problem() -> tuple[str, str] | None:
    """(model name, reason in the reader's language) when the chosen model could not be
    loaded, else None."""
    problem = st.session_state.get("model_problem")
    return None if problem is None else (problem[0], say(problem[1]))


def require_model() -> Model:
    """The model in use, or an explanation with a way out and `st.stop()`."""
    model = current_model()
    if model is not None:
        return model
    name, raw = st.session_state.get("model_problem") or (DEFAULT, "")
    if name == DEFAULT and getattr(raw, "key", None) == "errors.model.not_found":
        st.info(t("common.no_model"))
    else:
        st.error(t("common.cannot_load", name=name, reason=say(raw)))
    st.page_link("pages/train.py", label=t("common.go_train"), icon=":material/model_training:")
    st.stop()


def _sync_choice(key: str) -> None:
    state = st.session_state
    chosen = state[key]
    if chosen != LIVE and chosen not in current_workspace().model_names():
        # Not a choice but the browser echoing an option that is gone (the run in this tab
        # diverged and left the list): it arrives as the option's label. Keep the real choice.
        return
    if chosen != state.get(MODEL_KEY, DEFAULT):  # the user chose: the notice is answered
        state.pop(MODEL_NOTICE, None)
    state[MODEL_KEY] = chosen


def model_label(choice: str) -> str:
    """How a model choice reads in a picker (fixed text: a select box's labels must not change
    while it is shown, or it loses its selection)."""
    return t("common.live_label") if choice == LIVE else choice


def model_picker(key: str, label: str | None = None) -> Model | None:
    """A select box of the saved models plus this session's model in training; returns the model.

    Every picker (one per key) shows and sets the same choice, so the sidebar and a page agree.
    """
    state = st.session_state
    model = current_model()  # first, as it falls back to default when the run is gone
    options = current_workspace().model_names()
    if train_job_id() is not None and not live_unusable(train_job_view()):
        options.insert(0, LIVE)
    choice = state.get(MODEL_KEY, DEFAULT)
    if choice not in options:
        options.append(choice)  # a missing model stays visible, so its error makes sense
    if state.get(key) != choice:
        state[key] = choice
    labels = {name: model_label(name) for name in options}  # said now, in this run's language
    st.selectbox(
        label or t("common.model"),
        options,
        key=key,
        format_func=labels.__getitem__,
        on_change=_sync_choice,
        args=(key,),
        help=t("common.picker_help"),
    )
    return model


def predict(model: Model, x28):
    """(digit, probabilities (10,)) for one (28, 28) image in [0, 1]."""
    probs = model.predict_proba(x28.reshape(1, 784))[0]
    return int(probs.argmax()), probs


# --- the sidebar --------------------------------------------------------------------------------


def render_sidebar(page: str = "") -> None:
    """Model in use and the live status of this session's training job, on every page (on
    Train only once the run has ended: while it runs the page itself shows it, and a second live
    status would only cost the browser CPU); on a shared server also who is signed in (or the
    banner saying nobody is)."""
    from ui.runs import record_finished_runs

    render_access()
    record_finished_runs()
    with st.sidebar:
        language_switch()
        model = model_picker("sidebar_model", t("common.model_in_use"))
        if model_notice():
            st.caption(f":orange[{model_notice()}]")
        if model is not None:
            st.caption(model_caption(model))
        elif model_problem():
            st.caption(t("common.cannot_load_short", name=model_problem()[0]))
        view = train_job_view()
        if view is not None and not (view.active and page == TRAIN_PAGE):
            every = LIVE_EVERY if view.active else None
            st.fragment(_sidebar_job, run_every=every)(view.active, has_weights(view))


def model_caption(model: Model) -> str:
    """One line about a model: layer sizes, activation, accuracy."""
    sizes = "-".join(map(str, model.net.sizes))
    acc = model.test_acc
    act = model.net.activation
    if acc is not None:
        return t("common.caption.test", sizes=sizes, act=act, acc=f"{acc:.2%}")
    val = model.meta.get("metrics", {}).get("val_acc")
    if val is not None:
        return t("common.caption.val", sizes=sizes, act=act, acc=f"{val:.2%}")
    return t("common.caption.learning", sizes=sizes, act=act)


def has_weights(view: JobView) -> bool:
    return "start" in view.last  # train() yields "start" once the network exists


def _sidebar_job(was_active: bool, had_weights: bool) -> None:
    view = train_job_view()
    if view is None:
        return
    if was_active and not view.active:
        st.rerun()  # the run ended: redraw the whole page once (results, buttons)
    if not had_weights and has_weights(view) and st.session_state.get(MODEL_KEY) == LIVE:
        st.rerun()  # the model in training now exists: let the page use it instead of default
    st.markdown(t("common.training_run"))
    progress = training_progress(view)
    st.progress(progress["fraction"])
    st.caption(progress["short"])


# --- reading a job's progress -------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """A duration for people: "2 min 5 s", "40 s", "4.2 s"."""
    if seconds < 10:
        return t("common.time.s", s=f"{max(0.0, seconds):.1f}")
    seconds = int(round(seconds))
    if seconds >= 3600:
        return t("common.time.h_min", h=seconds // 3600, m=seconds % 3600 // 60)
    if seconds >= 60:
        return t("common.time.min_s", m=seconds // 60, s=seconds % 60)
    return t("common.time.s", s=seconds)


def full_batch(view: JobView) -> bool:
    """Whether a training run takes every image in each step: then one step is one epoch, and
    its progress is counted in iterations (the article's way), elsewhere in epochs."""
    start = view.last.get("start")
    if start:
        return start["steps_per_epoch"] == 1
    return view.meta.get("config", {}).get("batch_size") == 0


def _reached(view: JobView):
    """The event that says where a run got to: Done, else Stopped (a stopped run before its
    scores come), else the last Step logged. A run's own count where it has one, not a log's."""
    return view.last.get("done") or view.last.get("stopped") or view.last.get("step")


def _position(view: JobView) -> tuple[int, int, int, int] | None:
    """(unit reached, units in all, steps taken, steps in all), in the run's own unit."""
    start, reached_at = view.last.get("start"), _reached(view)
    if not start or not reached_at:
        return None
    steps = reached_at["step"]
    total = start["total_steps"]
    if full_batch(view):
        return steps, total, steps, total
    epochs, per_epoch = start["epochs"], start["steps_per_epoch"]
    reached = steps / per_epoch
    # Under way: the epoch being trained; finished: the last epoch touched.
    current = math.ceil(reached) if view.finished else math.floor(reached) + 1
    return min(epochs, max(1, current)), epochs, steps, total


def progress_label(view: JobView) -> str | None:
    """ "epoch 3 of 5" or, for full-batch runs, "iteration 78 of 500"; None before any step.

    The status line, the sidebar and Draw all count with this, so they agree."""
    pos = _position(view)
    if pos is None:
        return None
    unit = "iteration" if full_batch(view) else "epoch"
    return t(f"common.unit.{unit}", n=f"{pos[0]:,}", total=f"{pos[1]:,}")


def seconds_left(view: JobView) -> float | None:
    """Training seconds an active run still needs at its pace so far; None before it steps."""
    pos, step = _position(view), view.last.get("step")
    if not view.active or pos is None or not step or not pos[2]:
        return None
    _, _, steps, total = pos
    return step["train_seconds"] / steps * max(0, total - steps)


def training_progress(view: JobView, max_running: int | None = None) -> dict:
    """Where a training job stands: fraction done (0..1), a status line and a short one."""
    start, step = view.last.get("start"), view.last.get("step")
    epoch_ev, done, data = view.last.get("epoch"), view.last.get("done"), view.last.get("data")
    if view.status == jobs.QUEUED:
        slots = t("common.progress.slots", n=max_running) if max_running else ""
        line = t("common.progress.queued", position=view.position, slots=slots)
        short = t("common.progress.queued_short", position=view.position)
        return {"fraction": 0.0, "line": line, "short": short}
    if view.status == jobs.PREPARING:
        stage = say(data["stage"]) if data else t("common.progress.getting_ready")
        frac = data["fraction"] if data and data["fraction"] is not None else 0.0
        return {"fraction": frac, "line": stage, "short": t("common.progress.preparing_short")}
    pos = _position(view)
    parts = []
    fraction = 1.0 if view.status == jobs.DONE else 0.0
    if pos is not None:
        current, units, steps, total = pos
        fraction = 1.0 if view.status == jobs.DONE else min(1.0, steps / total) if total else 0.0
        if full_batch(view):
            parts.append(t("common.progress.full_batch", steps=f"{steps:,}", total=f"{total:,}"))
        else:
            parts.append(t("common.progress.epoch", n=current, total=units))
            parts.append(t("common.progress.step", steps=f"{steps:,}", total=f"{total:,}"))
        seconds = _reached(view)["train_seconds"]
        if view.finished and seconds > 0:
            # A finished run's last window can be a handful of steps: show the whole run's rate.
            seen = steps * start["n_train"] / max(1, start["steps_per_epoch"])
            parts.append(t("common.progress.avg_speed", speed=f"{seen / seconds:,.0f}"))
        elif step:
            parts.append(t("common.progress.speed", speed=f"{step['images_per_sec']:,.0f}"))
        left = seconds_left(view)
        if left is not None:
            parts.append(t("common.progress.left", time=format_seconds(left)))
    elif view.active:
        parts.append(t("common.progress.starting"))
    if epoch_ev and math.isfinite(epoch_ev["val_acc"]):
        parts.append(t("common.progress.val_acc", acc=f"{epoch_ev['val_acc']:.2%}"))
    finals = (jobs.PAUSED, jobs.DONE, jobs.STOPPED, jobs.DIVERGED, jobs.FAILED)
    status = status_name(view.status) if view.status in finals else None
    if view.scoring:
        status = t("common.status.scoring")
    if status:
        parts.insert(0, status)
    if done and math.isfinite(done.get("test_acc", math.nan)):
        parts.append(t("common.progress.test_acc", acc=f"{done['test_acc']:.2%}"))
    line = " · ".join(parts) or status_name(view.status)
    short = status_name(view.status)
    if pos is not None:
        unit = "iteration" if full_batch(view) else "epoch"
        where = t(f"common.unit.{unit}_short", n=f"{pos[0]:,}", total=f"{pos[1]:,}")
        short = f"{status or status_name(view.status)}: {where}"
        if epoch_ev and math.isfinite(epoch_ev["val_acc"]):
            short += t("common.progress.val_short", acc=f"{epoch_ev['val_acc']:.1%}")
    return {"fraction": fraction, "line": line, "short": short}


def status_name(status: str) -> str:
    """A job status for people, in the reader's language ("done" -> "Finished")."""
    key = f"common.status.{status}"
    return t(key) if key in catalog("en") else status.capitalize()


def run_speed(view: JobView) -> str | None:
    """How fast a finished run trained: seconds per epoch and images per second, on average."""
    start, done, epochs = view.last.get("start"), view.last.get("done"), view.series("epoch")
    if not start or not done or not done.get("train_seconds"):
        return None
    seen = done["step"] / start["steps_per_epoch"] * start["n_train"]  # images trained on
    speed = t("common.progress.avg_speed", speed=f"{seen / done['train_seconds']:,.0f}")
    timed = [e for e in epochs if e.get("seconds")]
    if not timed or start["steps_per_epoch"] == 1:
        return t(
            "common.progress.end", speed=speed
        )  # nothing evaluated, or one step per epoch: no per-epoch figure
    per_epoch = ", ".join(f"{e['seconds']:.1f}" for e in timed[:10])
    more = ", ..." if len(timed) > 10 else ""
    return t("common.progress.per_epoch", speed=speed, seconds=per_epoch, more=more)


NO_HIDDEN = "none"  # how the hidden-layers field spells "no hidden layer" (softmax regression)


def format_hidden(hidden) -> str:
    """(512, 256) -> "512, 256"; () -> "none"; text (as typed in the field) stays as it is."""
    if isinstance(hidden, str):
        return hidden
    return ", ".join(map(str, hidden)) if hidden else NO_HIDDEN


def parse_hidden(text: str) -> tuple[int, ...]:
    """ "512, 256" -> (512, 256), "none" or "0" -> (); ValueError with a plain message otherwise."""
    if str(text).strip().lower() in (NO_HIDDEN, "0"):
        return ()
    pieces = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in pieces)
    except ValueError:
        sizes = None
    if not sizes:
        raise ValueError(t("common.bad_hidden", text=text))
    return sizes
