"""Streamlit pieces for the personal set: the Draw page's "Right / Wrong, it is ..." feedback and
the My digits page (browse, delete, export, import, fine-tune with a before/after table).

Storage lives in core.personal and fine-tuning in core.finetune; this module only reads widgets,
calls them and shows the result. Fine-tuning runs as a background job of core.jobs.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image

from core import jobs
from core.finetune import (
    MIN_FOR_HOLDOUT,
    FinetuneConfig,
    PersonalData,
    before_after_rows,
    save_finetuned,
)
from core.jobs import finetune_job, get_manager
from core.model_store import Model, ModelFileError
from core.personal import MAX_ZIP_BYTES, ImportRefused, Listing, PersonalSet, score_arrays
from core.runs.history import RUNS_DIR_META
from ui.common import (
    MODEL_KEY,
    browser_here,
    current_model,
    current_workspace,
    owner_id,
    predict,
    runs_dir,
)
from ui.i18n import say, t
from ui.runs import note_saved

FINETUNE = "finetune"  # the job kind
FT_PARAM = "ft"  # URL query parameter carrying this session's fine-tuning job id
PER_PAGE = 24  # thumbnails shown at once, so the sections below stay in reach
GRID = 6  # thumbnails per row
THUMB = 84  # px: 28 x 3, pixels kept square and sharp


def _drawings(n: int) -> str:
    return t("my_digits.drawings.one" if n == 1 else "my_digits.drawings.many", n=n)


def _an(key: str, digit) -> str:
    """The key's "an" variant before an 8 ("an 8", "a 3"); Chinese has no article."""
    return key + "_an" if digit == 8 else key


# --- the Draw page ------------------------------------------------------------------------------


def workspace_store() -> PersonalSet:
    """The drawings of this session's workspace."""
    return PersonalSet(current_workspace().personal)


def _keep(store: PersonalSet, x28, rgba, label: int, prediction, model) -> None:
    """Store the drawing as `label`; a drawing kept earlier with another label is relabelled.

    A refusal (full disk, a canvas that is not RGBA) is shown as a message; nothing is lost."""
    try:
        existing = store.find(x28)
        if existing is not None and existing.label != label:
            store.delete(existing.id)
        name = getattr(model, "name", None)
        store.add(x28, label, canvas=rgba, source="draw", prediction=prediction, model=name)
    except ValueError as e:  # StorageError is one
        st.error(say(e))


def _safely(action, *args) -> None:
    """Run a store action from a button; a refusal becomes a message shown on the next run."""
    try:
        action(*args)
    except ValueError as e:  # StorageError is one
        st.session_state["md_error"] = say(e)


def render_store_error() -> None:
    """The message of a store action that failed on the last click, if any."""
    message = st.session_state.pop("md_error", None)
    if message:
        st.error(message)


def render_feedback(model, rgba, x28, prediction=None, reading=None) -> None:
    """ "Right" and "Wrong, it is ..." under the answer: keep this drawing with its label.

    `prediction` is the digit the model gave (or its ten probabilities); None works it out.
    `reading` (core.reading.Reading), when given, is what the page said: where it gave "?"
    there is nothing to call right (a scribble kept as its top guess would teach the network
    that scribbles are digits), and the user may still say which digit it is.
    Nothing shows while there is no drawing.
    """
    if x28 is None:
        return
    refused = reading is not None and reading.digit is None
    if reading is not None:
        prediction = reading.best if refused else reading.digit  # the model's guess is kept
    elif prediction is None and model is not None:
        prediction = predict(model, x28)[0]
    elif prediction is not None and np.ndim(prediction) > 0:
        prediction = int(np.argmax(prediction))
    store = workspace_store()

    st.markdown(t("my_digits.feedback.ask"))
    right_col, wrong_col, note_col = st.columns([1, 1.4, 3], vertical_alignment="center")
    with right_col:
        if st.button(
            t("my_digits.feedback.right"),
            key="fb_right",
            icon=":material/check:",
            disabled=prediction is None or refused,
            help=t("my_digits.feedback.right_refused")
            if refused
            else t(_an("my_digits.feedback.right_help", prediction), digit=prediction),
        ):
            _keep(store, x28, rgba, prediction, prediction, model)
    with wrong_col, st.popover(t("my_digits.feedback.wrong"), icon=":material/edit:"):
        st.caption(t("my_digits.feedback.which"))
        rows = [st.columns(5), st.columns(5)]
        for d in range(10):
            with rows[d // 5][d % 5]:
                said = d == prediction and not refused  # the digit the page gave
                if st.button(str(d), key=f"fb_digit_{d}", disabled=said):
                    _keep(store, x28, rgba, d, prediction, model)
    with note_col:
        kept = store.find(x28)
        if kept is not None:
            kept_as = t(_an("my_digits.feedback.kept", kept.label), digit=kept.label)
            st.success(kept_as, icon=":material/bookmark:")
        else:
            st.caption(t("my_digits.feedback.where"))


# --- My digits: what is there -------------------------------------------------------------------


def render_problems(store: PersonalSet, listing: Listing) -> None:
    """Anything recovered or wrong while reading the set, with a way to write a clean manifest."""
    if not listing.problems:
        return
    st.warning(
        t("my_digits.problems") + "\n\n" + "\n".join(f"- {say(p)}" for p in listing.problems),
        icon=":material/build:",
    )
    st.button(t("my_digits.repair"), key="md_repair", on_click=_safely, args=(store.repair,))


def _thumbnail(store: PersonalSet, item_id: str) -> np.ndarray:
    img = Image.fromarray(store.image(item_id)).resize((THUMB, THUMB), Image.Resampling.NEAREST)
    return np.asarray(img)


def render_damaged(store: PersonalSet, listing: Listing) -> None:
    """Drawings whose image file is damaged: left out of everything, deletable here."""
    if not listing.damaged:
        return
    label = t("my_digits.damaged.title", n=len(listing.damaged))
    with st.expander(label, icon=":material/broken_image:"):
        st.caption(t("my_digits.damaged.text"))
        for item_id in listing.damaged[:PER_PAGE]:
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.code(item_id, language=None)
            right.button(
                t("my_digits.delete"),
                key=f"md_del_damaged_{item_id}",
                icon=":material/delete:",
                type="tertiary",
                on_click=_safely,
                args=(store.delete, item_id),
            )


def render_collection(store: PersonalSet, listing: Listing) -> None:
    """Counts per digit, a digit filter and a grid of thumbnails with a delete button each."""
    render_store_error()
    render_damaged(store, listing)
    counts = listing.counts()
    if not listing.items:
        st.info(t("my_digits.empty"), icon=":material/info:")
        st.page_link("pages/draw.py", label=t("my_digits.go_to_draw"), icon=":material/draw:")
        return
    choice = st.segmented_control(
        t("my_digits.show"),
        ["all", *range(10)],
        default="all",
        key="md_show",
        format_func=lambda c: (
            t("my_digits.show_all", n=len(listing.items)) if c == "all" else f"{c} ({counts[c]})"
        ),
    )
    items = (
        listing.items
        if choice in (None, "all")
        else [i for i in listing.items if i.label == choice]
    )
    items = items[::-1]  # newest first
    if not items:
        st.caption(t("my_digits.none_of", digit=choice))
        return
    pages = (len(items) + PER_PAGE - 1) // PER_PAGE
    page = 1
    if pages > 1:
        if not 1 <= st.session_state.get("md_page", 1) <= pages:
            st.session_state["md_page"] = 1  # fewer pages than before (after a delete)
        page = st.number_input(t("my_digits.page"), min_value=1, max_value=pages, key="md_page")
        st.caption(t("my_digits.per_page", n=len(items), per=PER_PAGE))
    shown = items[(page - 1) * PER_PAGE : page * PER_PAGE]
    for row in range(0, len(shown), GRID):
        cols = st.columns(GRID)
        for col, item in zip(cols, shown[row : row + GRID], strict=False):
            with col:
                read = (
                    t("my_digits.read_as", digit=item.prediction)
                    if item.prediction is not None and item.prediction != item.label
                    else ""
                )
                try:
                    thumb = _thumbnail(store, item.id)
                except Exception:  # deleted or damaged from elsewhere a moment ago
                    continue
                st.image(thumb, caption=f"{item.label}{read}")
                st.button(
                    t("my_digits.delete"),
                    key=f"md_del_{item.id}",
                    icon=":material/delete:",
                    type="tertiary",
                    on_click=_safely,
                    args=(store.delete, item.id),
                    help=t("my_digits.delete_help", digit=item.label, created=item.created),
                )


# --- My digits: export and import ---------------------------------------------------------------


def import_archive(store: PersonalSet, data: bytes) -> tuple[str, str]:
    """("success" | "error", message) after importing a zip; a refusal changes nothing."""
    try:
        report = store.import_zip(data)
    except ImportRefused as e:
        return "error", t("my_digits.import.refused", reason=say(e))
    except ValueError as e:  # StorageError: the disk refused; what was there is unchanged
        return "error", say(e)
    dup = t("my_digits.import.duplicates", n=report.duplicates) if report.duplicates else ""
    return "success", t("my_digits.import.done", drawings=_drawings(report.added), dup=dup)


def render_transfer(store: PersonalSet, listing: Listing) -> None:
    """Export the set as a zip download; import one exported here (or on another machine)."""
    state = st.session_state
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(t("my_digits.export.title"))
        st.caption(t("my_digits.export.text"))
        st.download_button(
            t("my_digits.export.button"),
            data=store.export_zip,  # built only when clicked
            file_name="my-digits.zip",
            mime="application/zip",
            icon=":material/download:",
            disabled=not listing.items,
            key="md_export",
        )
        if listing.damaged:
            st.caption(t("my_digits.export.left_out", drawings=_drawings(len(listing.damaged))))
    with right:
        st.markdown(t("my_digits.import.title"))
        upload = st.file_uploader(
            t("my_digits.import.label"),
            type=["zip"],
            key="md_import",
            help=t("my_digits.import.help", limit=MAX_ZIP_BYTES // 2**20),
        )
        if upload is None:
            state.pop("md_import_result", None)
        elif state.get("md_import_result", (None,))[0] != upload.file_id:
            state["md_import_result"] = (upload.file_id, *import_archive(store, upload.getvalue()))
            st.rerun()  # redraw the collection with the new drawings
        result = state.get("md_import_result")
        if result:
            (st.success if result[1] == "success" else st.error)(result[2])


# --- My digits: fine-tuning ---------------------------------------------------------------------


def _job_view():
    """This session's fine-tuning job, reattached from the URL after a reload; a heartbeat."""
    job_id = st.session_state.get("ft_job") or st.query_params.get(FT_PARAM)
    manager = get_manager()
    view = manager.view(job_id)
    mine = view is not None and view.kind == FINETUNE
    if mine and manager.touch(job_id, owner_id(), browser_here()):
        st.session_state["ft_job"] = job_id
        if st.query_params.get(FT_PARAM) != job_id:
            st.query_params[FT_PARAM] = job_id
        return view
    st.session_state.pop("ft_job", None)
    if FT_PARAM in st.query_params:
        del st.query_params[FT_PARAM]
    return None


def _start(model: Model, store: PersonalSet, config: FinetuneConfig) -> None:
    manager = get_manager()
    old = st.session_state.get("ft_job")
    personal = PersonalData.from_store(store)
    job_id = manager.submit(
        FINETUNE,
        finetune_job(model.net.copy(), personal, config),
        owner=owner_id(),
        meta={
            "base": model.name,
            "base_meta": dict(model.meta),
            "config": config.to_dict(),
            "n_personal": len(personal.y),
            RUNS_DIR_META: str(runs_dir()),
        },
    )
    if old:
        manager.forget(old, owner_id())
    st.session_state["ft_job"] = job_id
    st.query_params[FT_PARAM] = job_id
    st.session_state.pop("ft_saved", None)


def _suggest_name(base: str) -> str:
    taken = {n.lower() for n in current_workspace().model_names()}
    stem = base if base in taken else "my"
    for k in range(1, 1000):
        name = f"{stem}-handwriting" + ("" if k == 1 else f"-{k}")
        if name.lower() not in taken:
            return name
    return "my-handwriting"


def _progress(was_active: bool) -> None:
    view = _job_view()
    if view is None:
        return
    if was_active and not view.active:
        st.rerun()  # finished: redraw the section once with the results
    start, step = view.last.get("start"), view.last.get("step")
    total = start["total_steps"] if start else view.meta["config"]["steps"]
    done_steps = step["step"] if step else 0
    st.progress(min(1.0, done_steps / total) if total else 0.0)
    line = [t("my_digits.ft.step", step=done_steps, total=total)]
    epoch = view.last.get("epoch")
    if epoch:
        line.append(t("my_digits.ft.yours", acc=f"{epoch['val_acc']:.1%}"))
        line.append(t("my_digits.ft.mnist", acc=f"{epoch['test_acc']:.2%}"))
    if view.status == jobs.QUEUED:
        line.insert(0, t("my_digits.ft.queued"))
    elif view.status == jobs.PREPARING:
        line.insert(0, t("my_digits.ft.preparing"))
    st.caption(" · ".join(line))


def _results(view) -> None:
    done = view.last.get("done")
    if view.status == jobs.FAILED:
        st.error(t("my_digits.ft.failed", reason=say(view.error)))
        return
    if view.status == jobs.DIVERGED:
        st.error(say(view.last["diverged"]["reason"]))
        return
    if done is None:
        return
    rows = before_after_rows(done)
    table = []
    for r, places in zip(rows, (1, 2), strict=True):  # MNIST's 10,000 deserve two decimals
        change = f"{100 * r['change']:+.{places}f}"
        table.append(
            {
                t("my_digits.ft.table.on"): say(r["measured on"]),
                t("my_digits.ft.table.before"): f"{r['before']:.{places}%}",
                t("my_digits.ft.table.after"): f"{r['after']:.{places}%}",
                t("my_digits.ft.table.change"): t("my_digits.ft.table.points", points=change),
            }
        )
    st.table(table)
    steps = t("my_digits.ft.stopped" if done["stopped"] else "my_digits.ft.steps", n=done["step"])
    seconds = f"{done['train_seconds']:.1f}"
    how = [steps, t("my_digits.ft.took", seconds=seconds, drawings=_drawings(done["n_personal"]))]
    if done["measured_on"] != "held-out":
        how.append(t("my_digits.ft.no_holdout", n=MIN_FOR_HOLDOUT))
    else:
        how.append(t("my_digits.ft.holdout", n=done["n_heldout"]))
    st.caption(" ".join(how))

    saved = st.session_state.get("ft_saved")
    if saved and saved[0] == view.id:
        st.success(t("my_digits.ft.saved", name=saved[1]))
        return
    with st.form("ft_save", border=False):
        name = st.text_input(
            t("my_digits.ft.save_as"),
            value=_suggest_name(view.meta["base"]),
            help=t("my_digits.ft.save_as_help"),
        )
        if st.form_submit_button(t("my_digits.ft.save"), icon=":material/save:"):
            net = get_manager().snapshot(view.id, owner_id())
            base = Model(view.meta["base"], None, dict(view.meta["base_meta"]))
            config = FinetuneConfig.from_dict(view.meta["config"])
            try:
                if net is None:
                    raise ValueError(t("my_digits.ft.gone"))
                ws = current_workspace()
                ws.check_new_name(name.strip())
                save_finetuned(name.strip(), net, base, config, done, directory=ws.models)
            except (ValueError, FileExistsError) as e:
                st.error(say(e))
            else:
                st.session_state["ft_saved"] = (view.id, name.strip())
                st.session_state[MODEL_KEY] = name.strip()
                note_saved(view.id, name.strip())  # on the run's record in Runs
                st.rerun()


def render_finetune(store: PersonalSet, listing: Listing) -> None:
    """Start and stop fine-tuning of the model in use, its progress, before/after, save as."""
    st.subheader(t("my_digits.ft.title"))
    if not listing.items:
        st.caption(t("my_digits.ft.keep_first"))
        return
    model = current_model()
    if model is None:
        st.info(t("my_digits.ft.no_model"))
        return
    drawings = _drawings(len(listing.items))
    st.caption(t("my_digits.ft.intro", name=model.name, drawings=drawings, n=MIN_FOR_HOLDOUT))
    view = _job_view()
    active = view is not None and view.active
    with st.expander(t("my_digits.ft.settings")):
        c1, c2, c3 = st.columns(3)
        steps = c1.number_input(
            t("my_digits.ft.steps_label"),
            50,
            5000,
            FinetuneConfig.steps,
            step=50,
            key="ft_steps",
            help=t("my_digits.ft.steps_help"),
        )
        share = c2.slider(
            t("my_digits.ft.share"),
            0.05,
            1.0,
            FinetuneConfig.personal_share,
            step=0.025,
            key="ft_share",
            help=t("my_digits.ft.share_help"),
        )
        lr = c3.number_input(
            t("my_digits.ft.lr"),
            1e-5,
            1e-2,
            FinetuneConfig.lr,
            step=1e-4,
            format="%g",
            key="ft_lr",
            help=t("my_digits.ft.lr_help"),
        )
    left, right = st.columns([1, 4])
    with left:
        if active:
            st.button(
                t("my_digits.ft.stop"),
                key="ft_stop",
                icon=":material/stop:",
                on_click=get_manager().stop,
                args=(view.id, owner_id()),
            )
        elif st.button(
            t("my_digits.ft.start"), key="ft_start", type="primary", icon=":material/school:"
        ):
            try:
                config = FinetuneConfig(steps=int(steps), personal_share=float(share), lr=float(lr))
            except ValueError as e:
                st.error(say(e))
            else:
                try:
                    _start(model, store, config)
                except ValueError as e:  # the queue is full: say so
                    st.error(say(e))
                else:
                    st.rerun()
    with right:
        if view is not None:
            st.fragment(_progress, run_every=0.5 if active else None)(active)
    if view is not None and view.finished:
        _results(view)


# --- Inspect -------------------------------------------------------------------------------------


def render_models_on_my_digits(current: str | None = None) -> None:
    """Every saved model's accuracy on the user's digits next to its MNIST test accuracy."""
    store = workspace_store()
    X, y = store.arrays()
    with st.expander(t("inspect.mine.title", n=len(y))):
        if len(y) == 0:
            st.caption(t("inspect.mine.empty"))
            return
        rows = []
        ws = current_workspace()
        for name in ws.model_names():
            try:
                model = ws.load_model(name)
            except (ModelFileError, ValueError):
                continue
            score = score_arrays(model, X, y)
            shown = t("inspect.mine.inspected", name=name) if name == current else name
            acc = None if model.test_acc is None else f"{model.test_acc:.2%}"
            rows.append(
                {
                    t("inspect.mine.model"): shown,
                    t("inspect.mine.mnist"): acc,
                    t("inspect.mine.yours"): f"{score.accuracy:.1%} ({score.correct}/{score.n})",
                    t("inspect.mine.from"): model.meta.get("finetune", {}).get("base_model", ""),
                }
            )
        st.dataframe(rows, hide_index=True)
        st.caption(t("inspect.mine.note"))
