"""Train: choose a setup, start a background training job, watch it learn, save the result."""

import functools
import math

import streamlit as st

from core.augment import AUGMENTS
from core.jobs import (
    DIVERGED,
    DONE,
    FAILED,
    PAUSED,
    QUEUED,
    RUNNING,
    STOPPED,
    get_manager,
    wait_until,
)
from core.messages import Message
from core.network import ACTIVATIONS, INITS
from core.optim import OPTIMIZERS, SCHEDULES
from core.runs.doctor import slow_setup
from core.runs.estimate import estimate, over_budget
from core.train import PRESET_LESSONS, PRESET_NOTES, PRESETS, TrainConfig, preset
from ui import charts
from ui.common import (
    LIVE,
    LIVE_EVERY,
    LOAD_SETUP,
    MODEL_KEY,
    SETUP_KEY,
    ensure_app_navigation,
    format_hidden,
    format_seconds,
    full_batch,
    has_weights,
    owner_id,
    parse_hidden,
    run_speed,
    save_trained,
    seconds_left,
    start_training,
    train_job_view,
    training_progress,
)
from ui.i18n import language, say, t
from ui.runs import diagnoses, update_diagnoses

ensure_app_navigation()

CHART_EVERY = 2.0  # seconds between chart redraws while a run is live (the status: LIVE_EVERY)
FIELDS = (
    "hidden",
    "activation",
    "init",
    "optimizer",
    "lr",
    "momentum",
    "schedule",
    "step_every",
    "step_gamma",
    "batch_size",
    "epochs",
    "l2",
    "smoothing",
    "augment",
    "train_size",
    "seed",
)


def preset_label(name: str) -> str:
    """A preset's name on its button, in the reader's language."""
    return t(f"train.preset.name.{name}") if name in PRESETS else name


def option_labels(field: str, options) -> dict:
    """How each choice of `field` reads in this language: the engine's own name, and in Chinese
    what it means beside it ("sgd（随机梯度下降）"), as the help texts name them."""
    return {value: t(f"train.option.{field}.{value}") for value in options}


def preset_note(name: str) -> str:
    """What a preset is for (core.train.PRESET_NOTES, in the reader's language)."""
    return t(f"train.preset.note.{name}") if name in PRESET_NOTES else ""


CHANGE_FIELDS = ("lr", "hidden", "l2", "train_size", "activation", "augment", "epochs")


def change_words(change: dict) -> str:
    """'learning rate 0.001, activation relu': a doctor's change in words, for a button
    (core.runs.doctor.describe_change, in the reader's language)."""
    parts = []
    for key, value in change.items():
        if key == "hidden":
            value = ", ".join(map(str, value)) if value else t("train.change.none")
        elif key == "train_size" and value == 0:
            value = t("train.change.all")
        elif isinstance(value, float):
            value = f"{value:g}"
        field = t(f"train.change.field.{key}") if key in CHANGE_FIELDS else key.replace("_", " ")
        parts.append(t("train.change.item", field=field, value=value))
    return t("train.change.sep").join(parts)


def setup_problem(e: Exception) -> str:
    """Why the setup cannot run, in the reader's language."""
    if isinstance(e.args[0] if e.args else None, Message):
        return say(e)
    if "Hidden layers" in str(e):  # ui.common.parse_hidden's refusal
        return t("train_errors.hidden_text", got=repr(st.session_state.get("cfg_hidden")))
    return str(e)


def fill_setup(preset_name: str, values: dict) -> None:
    """Fill the setup fields: a preset's name and config values (missing ones from the preset)."""
    state = st.session_state
    preset_name = preset_name if preset_name in PRESETS else "quick"
    state["cfg_preset"] = preset_name
    base = PRESETS[preset_name]
    for name in FIELDS:
        value = values.get(name, getattr(base, name))
        state[f"cfg_{name}"] = format_hidden(value) if name == "hidden" else value


def apply_preset() -> None:
    """Fill every setup field from the chosen preset."""
    fill_setup(st.session_state["cfg_preset"], {})


def apply_change(change: dict) -> None:
    """A doctor's suggestion: change those fields of the setup (a button's callback)."""
    state = st.session_state
    for name, value in change.items():
        state[f"cfg_{name}"] = format_hidden(value) if name == "hidden" else value
    state["setup_note"] = t("train.applied", change=change_words(change))
    state["doctor_applied"] = True  # the charts' fragment reruns the whole page once


def show_diagnosis(d, key: str, note: str = "") -> None:
    """One finding of the doctor: what it saw, with the numbers, and its one-click change."""
    title, detail = say(d.title), say(d.detail)
    words = (
        t("train.finding", title=title, detail=detail, advice=say(d.advice))
        if d.advice
        else t("train.finding_plain", title=title, detail=detail)
    )
    st.markdown(words + note)
    if d.change:
        st.button(
            t("train.apply", change=change_words(d.change)),
            key=key,
            on_click=apply_change,
            args=(d.change,),
            help=t("train.apply_help"),
        )


# --- the setup stays what you chose (page changes, reloads, end of a run, Run again) -----------
state = st.session_state
if LOAD_SETUP in state:  # "Run again with one change" on the Runs page
    loaded = state.pop(LOAD_SETUP)
    fill_setup(loaded["preset"], loaded["values"])
    state["setup_note"] = t("train.loaded", label=loaded["label"])
elif any(f"cfg_{name}" not in state for name in ("preset", *FIELDS)):
    kept, attached = state.get(SETUP_KEY), train_job_view()
    if kept:  # the widgets were forgotten, this session's copy was not
        fill_setup(kept["preset"], kept["values"])
    elif attached is not None:  # a reload reattached to a run: show that run's own setup
        fill_setup(attached.meta.get("preset", "quick"), dict(attached.meta.get("config", {})))
    else:
        fill_setup("quick", {})

st.title(t("train.title"))
st.caption(t("train.intro"))

# --- the setup ----------------------------------------------------------------------------------

st.radio(
    t("train.preset.label"),
    list(PRESETS),
    key="cfg_preset",
    horizontal=True,
    on_change=apply_preset,
    format_func=preset_label,
    help=t("train.preset.help"),
)
if st.session_state["cfg_preset"] in PRESET_LESSONS:
    st.caption(t("train.preset.failure", note=preset_note(st.session_state["cfg_preset"])))
else:
    st.caption(preset_note(st.session_state["cfg_preset"]))
state.pop("doctor_applied", None)  # this full run redraws the setup: no second run needed
if state.get("setup_note"):
    st.info(state.pop("setup_note"), icon=":material/tune:")

with st.expander(t("train.custom"), expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.text_input(
            t("train.field.hidden.label"),
            key="cfg_hidden",
            help=t("train.field.hidden.help"),
        )
        st.selectbox(
            t("train.field.activation.label"),
            ACTIVATIONS,
            format_func=option_labels("activation", ACTIVATIONS).__getitem__,
            key="cfg_activation",
            help=t("train.field.activation.help"),
        )
        st.selectbox(
            t("train.field.init.label"),
            INITS,
            format_func=option_labels("init", INITS).__getitem__,
            key="cfg_init",
            help=t("train.field.init.help"),
        )
        st.number_input(
            t("train.field.seed.label"),
            key="cfg_seed",
            step=1,
            help=t("train.field.seed.help"),
        )
    with c2:
        st.selectbox(
            t("train.field.optimizer.label"),
            OPTIMIZERS,
            format_func=option_labels("optimizer", OPTIMIZERS).__getitem__,
            key="cfg_optimizer",
            help=t("train.field.optimizer.help"),
        )
        st.number_input(
            t("train.field.lr.label"),
            key="cfg_lr",
            step=0.0005,
            format="%g",
            help=t("train.field.lr.help"),
        )
        st.number_input(
            t("train.field.momentum.label"),
            key="cfg_momentum",
            step=0.05,
            format="%g",
            help=t("train.field.momentum.help"),
        )
    with c3:
        st.selectbox(
            t("train.field.schedule.label"),
            SCHEDULES,
            format_func=option_labels("schedule", SCHEDULES).__getitem__,
            key="cfg_schedule",
            help=t("train.field.schedule.help"),
        )
        if st.session_state["cfg_schedule"] == "step":
            st.number_input(
                t("train.field.step_every.label"),
                key="cfg_step_every",
                step=1,
                help=t("train.field.step_every.help"),
            )
            st.number_input(
                t("train.field.step_gamma.label"),
                key="cfg_step_gamma",
                step=0.05,
                format="%g",
                help=t("train.field.step_gamma.help"),
            )
        st.number_input(
            t("train.field.batch_size.label"),
            key="cfg_batch_size",
            step=32,
            help=t("train.field.batch_size.help"),
        )
        st.number_input(
            t("train.field.epochs.label"),
            key="cfg_epochs",
            step=1,
            help=t("train.field.epochs.help", quick=PRESETS["quick"].epochs),
        )
    with c4:
        st.number_input(
            t("train.field.l2.label"),
            key="cfg_l2",
            step=0.0001,
            format="%g",
            help=t("train.field.l2.help"),
        )
        st.number_input(
            t("train.field.smoothing.label"),
            key="cfg_smoothing",
            step=0.05,
            format="%g",
            help=t("train.field.smoothing.help"),
        )
        st.selectbox(
            t("train.field.augment.label"),
            AUGMENTS,
            format_func=option_labels("augment", AUGMENTS).__getitem__,
            key="cfg_augment",
            help=t("train.field.augment.help"),
        )
        st.number_input(
            t("train.field.train_size.label"),
            key="cfg_train_size",
            step=1000,
            help=t("train.field.train_size.help"),
        )


def current_setup() -> tuple[TrainConfig | None, str | None]:
    """(the config the setup fields describe, None) or (None, what is wrong with them)."""
    try:
        values = {name: st.session_state[f"cfg_{name}"] for name in FIELDS}
        values["hidden"] = parse_hidden(values["hidden"])
        return preset(st.session_state["cfg_preset"], **values), None
    except (ValueError, TypeError) as e:
        return None, setup_problem(e)


config, problem = current_setup()
if problem:
    st.error(problem)
elif config != PRESETS[st.session_state["cfg_preset"]]:
    st.caption(t("train.customised", preset=preset_label(st.session_state["cfg_preset"])))
if config is not None:
    too_big = over_budget(config)
    if too_big:
        st.error(say(too_big))
        config = None
    else:
        guess = estimate(config)
        st.caption(t("train.estimate", estimate=say(guess.describe())))
        slow = slow_setup(guess.seconds, config.to_dict())
        if slow is not None:
            with st.container(border=True):
                show_diagnosis(slow, key="doctor_before_start")
# A copy of the setup outside the widgets, which Streamlit may forget on other pages.
state[SETUP_KEY] = {
    "preset": state["cfg_preset"],
    "values": {name: state[f"cfg_{name}"] for name in FIELDS},
}

# --- start, pause, stop -------------------------------------------------------------------------

manager = get_manager()
view = train_job_view()
active = view is not None and view.active


def start_clicked() -> None:
    """Start acts in the button's callback, before the page is drawn again: the run starts
    while the page redraws, not after (~0.2 s sooner), and one redraw shows it."""
    config, problem = current_setup()
    if config is None:  # the page says what is wrong
        return
    try:
        start_training(config, st.session_state["cfg_preset"])
    except ValueError as e:  # over budget, or the queue is full: say so, keep the old run
        st.session_state["start_refused"] = say(e)
    else:
        st.session_state.pop("start_refused", None)


# --- the live panel -----------------------------------------------------------------------------


def live_status(was_active: bool, had_weights: bool, can_start: bool) -> None:
    """Start, Pause and Stop with the run's status and progress; redrawn every LIVE_EVERY
    seconds while the job is active. The buttons share the status's fragment, so a click on
    Pause or Stop redraws only the buttons and the status line: the page says "Stopped" at
    once, and only then redraws in full for the result (a full redraw first took 0.4-1.2 s
    under load, `bench/app_speed.py`). It also notices the end of the run (and the first
    weights), and redraws the whole page then."""
    view = train_job_view()
    left = seconds_left(view) if view is not None else None
    if was_active and left is not None and left < LIVE_EVERY and view.status == RUNNING:
        # It ends before the next redraw: wait for it here, so the result shows as it comes.
        def ended() -> bool:
            nonlocal view
            view = manager.view(view.id) or view
            return not view.active

        wait_until(ended, timeout=LIVE_EVERY, every=0.05)
    active = view is not None and view.active
    b1, b2, b3, _ = st.columns([1, 1, 1, 3])
    b1.button(
        t("train.start"),
        type="primary",
        disabled=not can_start or active,
        width="stretch",
        on_click=start_clicked,
    )
    if st.session_state.get("start_refused"):
        st.error(st.session_state["start_refused"])
    paused = view is not None and view.status == PAUSED
    job_args = (view.id, owner_id()) if view is not None else None
    # Callbacks act before the fragment is drawn again, so one redraw shows the new state.
    b2.button(
        t("train.resume") if paused else t("train.pause"),
        disabled=not active or view.status == QUEUED or view.stop_requested,
        width="stretch",
        on_click=manager.resume if paused else manager.pause,
        args=job_args,
    )
    b3.button(
        t("train.stop"),
        disabled=not active or view.stop_requested,
        width="stretch",
        on_click=manager.stop,
        args=job_args,
    )
    if active:
        st.caption(t("train.stop_first"))
    if view is None:
        st.info(t("train.choose"))
        return
    progress = training_progress(view, manager.max_running)
    if view.status == QUEUED:
        st.info(progress["line"])
    st.progress(progress["fraction"], text=progress["line"])
    if was_active != active:
        st.rerun()  # started, or over: redraw the page once (the live charts, or the result)
    if not had_weights and has_weights(view) and st.session_state.get(MODEL_KEY) == LIVE:
        st.rerun()  # the network now exists: the sidebar's model in use becomes it


def live_charts() -> None:
    """The three charts and the doctor's reading; redrawn every CHART_EVERY seconds while the
    job is active (a fragment of their own, so the status's redraws do not send them again).

    Before any run they are drawn empty, with their axes: the reader sees what will be plotted,
    and the browser loads its charting code while the reader chooses a setup. Loading it on the
    first chart kept a fresh tab busy for about 3 s just after Start (`bench/preset_times.py`)."""
    if st.session_state.pop("doctor_applied", False):
        st.rerun()  # a suggestion changed the setup fields above: redraw the whole page
    view = train_job_view()
    steps, epochs = (view.series("step"), view.series("epoch")) if view else ([], [])
    run_id = view.id if view else None
    step_key = (run_id, len(steps), steps[-1]["step"] if steps else 0, language())
    epoch_key = (run_id, len(epochs), language())
    c1, c2, c3 = st.columns(3)
    config = {"displayModeBar": False}
    whole = full_batch(view) if view else False
    explain = (
        (t("charts.explain.loss_iteration"), t("charts.explain.loss_evaluated"))
        + (t("charts.explain.accuracy_iteration"),)
        if whole
        else (t("charts.explain.loss_step"), t("charts.explain.loss_evaluated"))
        + (t("charts.explain.accuracy_epoch"),)
    )
    eps = float(view.meta.get("config", {}).get("smoothing") or 0) if view else 0.0
    if eps:  # the plain loss of a network that hits its smoothed targets exactly
        target = 1 - eps + eps / 10
        floor = t(
            "charts.explain.loss_smoothed",
            eps=f"{eps:g}",
            target=f"{target:.3g}",
            floor=f"{-math.log(target):.2f}",
        )
        explain = (f"{explain[0]} {floor}", *explain[1:])
    for column, name, key, build, data, words in (
        (c1, "step", step_key, charts.loss_per_step_figure, steps, explain[0]),
        (c2, "epoch", epoch_key, charts.loss_per_epoch_figure, epochs, explain[1]),
        (c3, "acc", epoch_key, charts.accuracy_per_epoch_figure, epochs, explain[2]),
    ):
        build = functools.partial(build, full_batch=whole)
        fig = remembered_figure(name, (*key, whole), build, data)
        column.plotly_chart(fig, config=config, key=f"chart_{name}")
        column.caption(words)
    if view is not None and view.active:
        doctor_panel(view, diagnoses(view))  # a finished run's reading comes at the page's end


def doctor_panel(view, found) -> None:
    """What the doctor reads in the run so far, each finding with a one-click change."""
    if not found:
        return
    preset_name = view.meta.get("preset")
    lesson = PRESET_LESSONS.get(preset_name)
    st.markdown(t("train.doctor_reading"))
    for d in found:
        with st.container(border=True):
            named = t("train.lesson", preset=preset_label(preset_name)) if d.code == lesson else ""
            show_diagnosis(d, key=f"doctor_{view.id}_{d.code}", note=named)


def remembered_figure(name, key, build, data):
    """Build a chart only when its data changed (the key says): each new chart also costs the
    browser about 60 ms of CPU to draw, which a laptop's browser takes from the training run
    (`bench/app_speed.py`)."""
    memo = st.session_state.setdefault("train_figures", {})
    old = memo.get(name)
    if old is None or old[0] != key:
        memo[name] = old = (key, build(data))
    return old[1]


st.fragment(live_status, run_every=LIVE_EVERY if active else None)(
    active, view is not None and has_weights(view), config is not None
)
st.fragment(live_charts, run_every=CHART_EVERY if active else None)()


def _await_scores() -> None:
    """Redraw the page once the stopped run's scores are in (its Save form needs them)."""
    view = train_job_view()
    if view is None or not view.scoring:
        st.rerun()


# --- the result ---------------------------------------------------------------------------------

if view is not None and view.finished:
    done = view.last.get("done")
    if view.status == DONE:
        st.success(
            t(
                "train.result.finished",
                acc=f"{done['test_acc']:.2%}",
                time=format_seconds(done["train_seconds"]),
            )
        )
    elif view.status == STOPPED and done:
        which = "iterations" if full_batch(view) else "steps"
        st.warning(
            t(
                f"train.result.stopped_{which}",
                n=f"{done['step']:,}",
                acc=f"{done['test_acc']:.2%}",
            )
        )
    elif view.scoring:
        stopped = view.last.get("stopped") or view.last.get("step")  # the step it got to
        st.warning(
            t("train.result.scoring_after", n=f"{stopped['step']:,}")
            if stopped
            else t("train.result.scoring")
        )
        st.fragment(_await_scores, run_every=0.5)()
    elif view.status == STOPPED:
        st.warning(t("train.result.stopped_early"))
    elif view.status == DIVERGED:
        # The doctor's reading above says why, with a learning rate that is safe to try.
        st.error(t("train.result.diverged"))
    elif view.status == FAILED:
        st.error(t("train.result.failed", reason=say(view.error)))
    if run_speed(view):
        st.caption(t("train.result.speed", speed=run_speed(view)))

    if done:
        st.subheader(t("train.save.title"))
        name = st.text_input(
            t("train.save.as"),
            key="save_name",
            placeholder="my-model",
            help=t("train.save.help"),
        ).strip()
        conflict = st.session_state.get("save_conflict") == name and name
        replace = conflict and st.checkbox(t("train.save.replace", name=repr(name)))
        if st.button(t("train.save.button"), disabled=not name):
            try:
                save_trained(name, overwrite=bool(replace))
            except FileExistsError:
                st.session_state["save_conflict"] = name
                st.rerun()
            except ValueError as e:
                st.error(say(e))
            else:
                st.session_state.pop("save_conflict", None)
                st.rerun()  # the sidebar picks up the new model
        if conflict:
            st.warning(t("train.save.conflict", name=repr(name)))
        elif st.session_state.get("saved_as"):
            st.success(t("train.save.saved", name=st.session_state["saved_as"]))

# --- the doctor's reading of a finished run (last: its unit statistics take a moment) -----
if view is not None and view.finished:
    found = diagnoses(view)
    update_diagnoses(view, found)
    doctor_panel(view, found)
