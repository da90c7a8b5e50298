"""Train: choose a setup, start a background training job, watch it learn, save the result."""

import streamlit as st

from core.augment import AUGMENTS
from core.jobs import DIVERGED, DONE, FAILED, PAUSED, QUEUED, STOPPED, get_manager
from core.network import ACTIVATIONS, INITS
from core.optim import OPTIMIZERS, SCHEDULES
from core.runs.doctor import describe_change, slow_setup
from core.runs.estimate import estimate, over_budget
from core.train import PRESET_LESSONS, PRESET_NOTES, PRESETS, preset
from ui import charts
from ui.common import (
    LOAD_SETUP,
    SETUP_KEY,
    ensure_app_navigation,
    format_hidden,
    format_seconds,
    full_batch,
    owner_id,
    parse_hidden,
    run_speed,
    save_trained,
    start_training,
    train_job_view,
    training_progress,
)
from ui.runs import diagnoses, update_diagnoses

ensure_app_navigation()

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
    "augment",
    "train_size",
    "seed",
)


PRESET_LABELS = {
    "seed": "seed (the article)",
    "quick": "quick",
    "best": "best",
    "exploding": "exploding rate",
    "vanishing": "vanishing gradients",
    "dead-relus": "dead ReLUs",
    "overfitting": "overfitting",
    "softmax": "no hidden layer",
}


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
    state["setup_note"] = f"Applied the doctor's suggestion: {describe_change(change)}."
    state["doctor_applied"] = True  # the panel's fragment reruns the whole page once


def show_diagnosis(d, key: str, note: str = "") -> None:
    """One finding of the doctor: what it saw, with the numbers, and its one-click change."""
    st.markdown(f"**{d.title}.** {d.detail} {d.advice}{note}")
    if d.change:
        st.button(
            f"Apply to the setup: {describe_change(d.change)}",
            key=key,
            on_click=apply_change,
            args=(d.change,),
            help="Changes the setup above; press Start to try it.",
        )


# --- the setup stays what you chose (page changes, reloads, end of a run, Run again) -----------
state = st.session_state
if LOAD_SETUP in state:  # "Run again with one change" on the Runs page
    loaded = state.pop(LOAD_SETUP)
    fill_setup(loaded["preset"], loaded["values"])
    state["setup_note"] = (
        f"The setup of {loaded['label']} is loaded: change one thing and press Start."
    )
elif any(f"cfg_{name}" not in state for name in ("preset", *FIELDS)):
    kept, attached = state.get(SETUP_KEY), train_job_view()
    if kept:  # the widgets were forgotten, this session's copy was not
        fill_setup(kept["preset"], kept["values"])
    elif attached is not None:  # a reload reattached to a run: show that run's own setup
        fill_setup(attached.meta.get("preset", "quick"), dict(attached.meta.get("config", {})))
    else:
        fill_setup("quick", {})

st.title("Train a network")
st.caption(
    "Training runs in the background: go and draw while it learns, or reload the page; "
    "the run carries on and this page finds it again."
)

# --- the setup ----------------------------------------------------------------------------------

st.radio(
    "Start from a preset",
    list(PRESETS),
    key="cfg_preset",
    horizontal=True,
    on_change=apply_preset,
    format_func=lambda name: PRESET_LABELS.get(name, name),
    help="Each preset fills in the whole setup below; change any field to make it your own. "
    "The last five each show one way training goes wrong; the doctor below the charts names it.",
)
if st.session_state["cfg_preset"] in PRESET_LESSONS:
    st.caption(f":orange[Failure to watch.] {PRESET_NOTES[st.session_state['cfg_preset']]}")
else:
    st.caption(PRESET_NOTES[st.session_state["cfg_preset"]])
state.pop("doctor_applied", None)  # this full run redraws the setup: no second run needed
if state.get("setup_note"):
    st.info(state.pop("setup_note"), icon=":material/tune:")

with st.expander("Custom setup", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        st.text_input(
            "Hidden layers",
            key="cfg_hidden",
            help="Units per hidden layer, separated by commas: 256, or 512, 256 for two layers. "
            "0-4 layers of 1-4096 units (none: no hidden layer, softmax regression); more "
            "units learn more but train slower.",
        )
        st.selectbox(
            "Activation",
            ACTIVATIONS,
            key="cfg_activation",
            help="The non-linearity after each hidden layer. ReLU is the usual choice; sigmoid "
            "and tanh learn more slowly.",
        )
        st.selectbox(
            "Initial weights",
            INITS,
            key="cfg_init",
            help="How the starting weights are drawn. auto: He for ReLU, LeCun otherwise; "
            "uniform: the article's [-0.5, 0.5].",
        )
        st.number_input(
            "Seed",
            key="cfg_seed",
            step=1,
            help="Any whole number. The same seed and setup repeat the same run exactly.",
        )
    with c2:
        st.selectbox(
            "Optimizer",
            OPTIMIZERS,
            key="cfg_optimizer",
            help="How each step uses the gradient. adam adapts the step for every weight and "
            "is the safe choice; sgd is plain gradient descent, as in the article.",
        )
        st.number_input(
            "Learning rate",
            key="cfg_lr",
            step=0.0005,
            format="%g",
            help="The size of each step: about 0.0001-0.01 for adam, 0.01-0.5 for sgd. "
            "Too large and training diverges; too small and it crawls.",
        )
        st.number_input(
            "Momentum",
            key="cfg_momentum",
            step=0.05,
            format="%g",
            help="How much of the previous step carries over (adam's beta1), in [0, 1); 0.9 is "
            "standard. Plain sgd ignores it.",
        )
    with c3:
        st.selectbox(
            "Learning-rate schedule",
            SCHEDULES,
            key="cfg_schedule",
            help="constant: the same rate throughout; cosine: eases down to 0 by the end; "
            "step: multiplied by a factor every few epochs.",
        )
        if st.session_state["cfg_schedule"] == "step":
            st.number_input(
                "Cut every (epochs)",
                key="cfg_step_every",
                step=1,
                help="Epochs between learning-rate cuts, for the step schedule: 1-100.",
            )
            st.number_input(
                "Cut factor",
                key="cfg_step_gamma",
                step=0.05,
                format="%g",
                help="What the learning rate is multiplied by at each cut, in (0, 1]; "
                "0.1 is common.",
            )
        st.number_input(
            "Batch size",
            key="cfg_batch_size",
            step=32,
            help="Images per step: 32-512 is typical. 0 uses every training image in each "
            "step (full batch, as in the article): smooth but slow to learn.",
        )
        st.number_input(
            "Epochs",
            key="cfg_epochs",
            step=1,
            help="Passes over the training images, 1-1000. quick needs 5; when validation "
            "accuracy stops rising, more epochs stop helping.",
        )
    with c4:
        st.number_input(
            "L2 weight decay",
            key="cfg_l2",
            step=0.0001,
            format="%g",
            help="Pulls the weights towards zero to curb overfitting: 0 to 0.01; 0.0001 is a "
            "gentle start.",
        )
        st.selectbox(
            "Augmentation",
            AUGMENTS,
            key="cfg_augment",
            help="Random distortions of each batch, so the network sees new variants: shift, "
            "affine (shift, rotate, scale) or elastic (also wobbles the strokes). Slower, but "
            "more robust to real handwriting.",
        )
        st.number_input(
            "Training images",
            key="cfg_train_size",
            step=1000,
            help="How many training images to learn from; 0 means all 55,000 (5,000 more are "
            "kept apart for validation). Fewer is faster but learns less.",
        )

config, problem = None, None
try:
    values = {name: st.session_state[f"cfg_{name}"] for name in FIELDS}
    values["hidden"] = parse_hidden(values["hidden"])
    config = preset(st.session_state["cfg_preset"], **values)
except (ValueError, TypeError) as e:
    problem = str(e)
if problem:
    st.error(problem)
elif config != PRESETS[st.session_state["cfg_preset"]]:
    st.caption(f"Customised {st.session_state['cfg_preset']} setup.")
if config is not None:
    too_big = over_budget(config)
    if too_big:
        st.error(too_big)
        config = None
    else:
        guess = estimate(config)
        st.caption(f"Estimate for this setup: {guess.describe()} on this machine.")
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
b1, b2, b3, _ = st.columns([1, 1, 1, 3])
if b1.button("Start", type="primary", disabled=config is None or active, width="stretch"):
    try:
        start_training(config, st.session_state["cfg_preset"])
    except ValueError as e:  # over budget, or the queue is full: say so, keep the old run
        st.session_state["start_refused"] = str(e)
    else:
        st.session_state.pop("start_refused", None)
    st.rerun()
if st.session_state.get("start_refused"):
    st.error(st.session_state["start_refused"])
paused = view is not None and view.status == PAUSED
if b2.button(
    "Resume" if paused else "Pause",
    disabled=not active or view.status == QUEUED or view.stop_requested,
    width="stretch",
):
    (manager.resume if paused else manager.pause)(view.id, owner_id())
    st.rerun()
if b3.button("Stop", disabled=not active or view.stop_requested, width="stretch"):
    manager.stop(view.id, owner_id())
    st.rerun()
if active:
    st.caption("Stop this run to start another one.")

# --- the live panel -----------------------------------------------------------------------------


def live_panel(was_active: bool) -> None:
    """Status, progress, the three charts and the doctor; redrawn twice a second while the job
    is active."""
    if st.session_state.pop("doctor_applied", False):
        st.rerun()  # a suggestion changed the setup fields above: redraw the whole page
    view = train_job_view()
    if view is None:
        st.info("Choose a setup and press **Start**. The charts fill in as the network learns.")
        return
    if was_active and not view.active:
        st.rerun()  # finished: redraw the page once, with the results and the Save form
    progress = training_progress(view, manager.max_running)
    if view.status == QUEUED:
        st.info(progress["line"])
    st.progress(progress["fraction"], text=progress["line"])
    steps, epochs = view.series("step"), view.series("epoch")
    step_key = (view.id, len(steps), steps[-1]["step"] if steps else 0)
    epoch_key = (view.id, len(epochs))
    c1, c2, c3 = st.columns(3)
    config = {"displayModeBar": False}
    whole = full_batch(view)
    explain = (
        (charts.EXPLAIN_LOSS_ITERATION, charts.EXPLAIN_LOSS_EVALUATED)
        + (charts.EXPLAIN_ACCURACY_ITERATION,)
        if whole
        else (charts.EXPLAIN_LOSS_STEP, charts.EXPLAIN_LOSS_EVALUATED)
        + (charts.EXPLAIN_ACCURACY_EPOCH,)
    )
    for column, name, key, build, data, words in (
        (c1, "step", step_key, charts.loss_per_step_figure, steps, explain[0]),
        (c2, "epoch", epoch_key, charts.loss_per_epoch_figure, epochs, explain[1]),
        (c3, "acc", epoch_key, charts.accuracy_per_epoch_figure, epochs, explain[2]),
    ):
        fig = figure(name, (*key, whole), lambda d, b=build: b(d, full_batch=whole), data)
        column.plotly_chart(fig, config=config, key=f"chart_{name}")
        column.caption(words)
    if view.active:
        doctor_panel(view, diagnoses(view))  # a finished run's reading comes at the page's end


def doctor_panel(view, found) -> None:
    """What the doctor reads in the run so far, each finding with a one-click change."""
    if not found:
        return
    preset_name = view.meta.get("preset")
    lesson = PRESET_LESSONS.get(preset_name)
    st.markdown("**The doctor's reading**")
    for d in found:
        with st.container(border=True):
            named = (
                f" :orange[This is the lesson of the {PRESET_LABELS[preset_name]} preset.]"
                if d.code == lesson
                else ""
            )
            show_diagnosis(d, key=f"doctor_{view.id}_{d.code}", note=named)


def figure(name, key, build, data):
    """Build a chart only when its data changed: the panel redraws twice a second, but the
    epoch charts change once an epoch, and every rebuild takes CPU from the training thread."""
    memo = st.session_state.setdefault("train_figures", {})
    if name not in memo or memo[name][0] != key:
        memo[name] = (key, build(data))
    return memo[name][1]


st.fragment(live_panel, run_every=0.5 if active else None)(active)


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
            f"Finished: {done['test_acc']:.2%} of the 10,000 MNIST test digits read correctly "
            f"after {format_seconds(done['train_seconds'])} of training. Try it on the Draw page."
        )
    elif view.status == STOPPED and done:
        unit = "iterations" if full_batch(view) else "steps"
        st.warning(
            f"Stopped after {done['step']:,} {unit}. The weights so far read "
            f"{done['test_acc']:.2%} of the test digits correctly."
        )
    elif view.scoring:
        stopped = view.last.get("stopped") or view.last.get("step")  # the step it got to
        steps = f" after {stopped['step']:,} steps" if stopped else ""
        st.warning(f"Stopped{steps}. Scoring the weights so far on the test digits...")
        st.fragment(_await_scores, run_every=0.5)()
    elif view.status == STOPPED:
        st.warning("Stopped before training began.")
    elif view.status == DIVERGED:
        # The doctor's reading above says why, with a learning rate that is safe to try.
        st.error("Training diverged: the loss blew up. Nothing was saved.")
    elif view.status == FAILED:
        st.error(f"Training failed: {view.error}")
    if run_speed(view):
        st.caption(f"Speed: {run_speed(view)}")

    if done:
        st.subheader("Save this model")
        name = st.text_input(
            "Save as",
            key="save_name",
            placeholder="my-model",
            help="Letters, digits, '-' and '_'. The shipped 'default' is never replaced.",
        ).strip()
        conflict = st.session_state.get("save_conflict") == name and name
        replace = conflict and st.checkbox(f"Yes, replace the existing model {name!r}")
        if st.button("Save", disabled=not name):
            try:
                save_trained(name, overwrite=bool(replace))
            except FileExistsError:
                st.session_state["save_conflict"] = name
                st.rerun()
            except ValueError as e:
                st.error(str(e))
            else:
                st.session_state.pop("save_conflict", None)
                st.rerun()  # the sidebar picks up the new model
        if conflict:
            st.warning(f"A model called {name!r} already exists. Tick the box to replace it.")
        elif st.session_state.get("saved_as"):
            st.success(f"Saved as {st.session_state['saved_as']}; it is now the model in use.")

# --- the doctor's reading of a finished run (last: its unit statistics take a moment) -----
if view is not None and view.finished:
    found = diagnoses(view)
    update_diagnoses(view, found)
    doctor_panel(view, found)
