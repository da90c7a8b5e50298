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
from ui.common import MODEL_KEY, current_model, current_workspace, owner_id, predict
from ui.runs import note_saved

FINETUNE = "finetune"  # the job kind
FT_PARAM = "ft"  # URL query parameter carrying this session's fine-tuning job id
PER_PAGE = 24  # thumbnails shown at once, so the sections below stay in reach
GRID = 6  # thumbnails per row
THUMB = 84  # px: 28 x 3, pixels kept square and sharp


def _drawings(n: int) -> str:
    return f"{n} drawing" if n == 1 else f"{n} drawings"


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
        st.error(str(e))


def _safely(action, *args) -> None:
    """Run a store action from a button; a refusal becomes a message shown on the next run."""
    try:
        action(*args)
    except ValueError as e:  # StorageError is one
        st.session_state["md_error"] = str(e)


def render_store_error() -> None:
    """The message of a store action that failed on the last click, if any."""
    message = st.session_state.pop("md_error", None)
    if message:
        st.error(message)


def render_feedback(model, rgba, x28, prediction=None) -> None:
    """ "Right" and "Wrong, it is ..." under the answer: keep this drawing with its label.

    `prediction` is the digit the model gave (or its ten probabilities); None works it out.
    Nothing shows while there is no drawing.
    """
    if x28 is None:
        return
    if prediction is None and model is not None:
        prediction = predict(model, x28)[0]
    elif prediction is not None and np.ndim(prediction) > 0:
        prediction = int(np.argmax(prediction))
    store = workspace_store()

    st.markdown("**Was it right?** Keep this drawing to teach the network your handwriting.")
    right_col, wrong_col, note_col = st.columns([1, 1.4, 3], vertical_alignment="center")
    with right_col:
        if st.button(
            "Right",
            key="fb_right",
            icon=":material/check:",
            disabled=prediction is None,
            help=f"Keep it in My digits as {'an' if prediction == 8 else 'a'} {prediction}.",
        ):
            _keep(store, x28, rgba, prediction, prediction, model)
    with wrong_col, st.popover("Wrong, it is ...", icon=":material/edit:"):
        st.caption("Which digit did you draw?")
        rows = [st.columns(5), st.columns(5)]
        for d in range(10):
            with rows[d // 5][d % 5]:
                if st.button(str(d), key=f"fb_digit_{d}", disabled=d == prediction):
                    _keep(store, x28, rgba, d, prediction, model)
    with note_col:
        kept = store.find(x28)
        if kept is not None:
            article = "an" if kept.label == 8 else "a"  # "an 8", "a 3"
            kept_as = f"Kept in My digits as {article} **{kept.label}**."
            st.success(kept_as, icon=":material/bookmark:")
        else:
            st.caption("Kept drawings appear under My digits, where you can fine-tune on them.")


# --- My digits: what is there -------------------------------------------------------------------


def render_problems(store: PersonalSet, listing: Listing) -> None:
    """Anything recovered or wrong while reading the set, with a way to write a clean manifest."""
    if not listing.problems:
        return
    st.warning(
        "Your digits are all here, but their index needed repairs:\n\n"
        + "\n".join(f"- {p}" for p in listing.problems),
        icon=":material/build:",
    )
    st.button("Rewrite the index", key="md_repair", on_click=_safely, args=(store.repair,))


def _thumbnail(store: PersonalSet, item_id: str) -> np.ndarray:
    img = Image.fromarray(store.image(item_id)).resize((THUMB, THUMB), Image.Resampling.NEAREST)
    return np.asarray(img)


def render_damaged(store: PersonalSet, listing: Listing) -> None:
    """Drawings whose image file is damaged: left out of everything, deletable here."""
    if not listing.damaged:
        return
    with st.expander(f"Damaged drawings ({len(listing.damaged)})", icon=":material/broken_image:"):
        st.caption(
            "Their image file cannot be read (cut short or overwritten outside the app). They are "
            "left out of fine-tuning, scores and exports. Delete them to tidy up."
        )
        for item_id in listing.damaged[:PER_PAGE]:
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.code(item_id, language=None)
            right.button(
                "Delete",
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
        st.info(
            "No digits kept yet. On the Draw page, press **Right** or **Wrong, it is ...** under "
            "the answer to keep a drawing here with its label.",
            icon=":material/info:",
        )
        st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
        return
    choice = st.segmented_control(
        "Show",
        ["all", *range(10)],
        default="all",
        key="md_show",
        format_func=lambda c: f"All ({len(listing.items)})" if c == "all" else f"{c} ({counts[c]})",
    )
    items = (
        listing.items
        if choice in (None, "all")
        else [i for i in listing.items if i.label == choice]
    )
    items = items[::-1]  # newest first
    if not items:
        st.caption(f"No {choice}s kept yet.")
        return
    pages = (len(items) + PER_PAGE - 1) // PER_PAGE
    page = 1
    if pages > 1:
        if not 1 <= st.session_state.get("md_page", 1) <= pages:
            st.session_state["md_page"] = 1  # fewer pages than before (after a delete)
        page = st.number_input("Page", min_value=1, max_value=pages, key="md_page")
        st.caption(f"{len(items)} drawings, {PER_PAGE} per page.")
    shown = items[(page - 1) * PER_PAGE : page * PER_PAGE]
    for row in range(0, len(shown), GRID):
        cols = st.columns(GRID)
        for col, item in zip(cols, shown[row : row + GRID], strict=False):
            with col:
                read = (
                    f", read as {item.prediction}"
                    if item.prediction is not None and item.prediction != item.label
                    else ""
                )
                try:
                    thumb = _thumbnail(store, item.id)
                except Exception:  # deleted or damaged from elsewhere a moment ago
                    continue
                st.image(thumb, caption=f"{item.label}{read}")
                st.button(
                    "Delete",
                    key=f"md_del_{item.id}",
                    icon=":material/delete:",
                    type="tertiary",
                    on_click=_safely,
                    args=(store.delete, item.id),
                    help=f"Delete this {item.label} (kept {item.created}).",
                )


# --- My digits: export and import ---------------------------------------------------------------


def import_archive(store: PersonalSet, data: bytes) -> tuple[str, str]:
    """("success" | "error", message) after importing a zip; a refusal changes nothing."""
    try:
        report = store.import_zip(data)
    except ImportRefused as e:
        return "error", f"The archive was not imported. {e}"
    except ValueError as e:  # StorageError: the disk refused; what was there is unchanged
        return "error", str(e)
    dup = f"; {report.duplicates} were here already" if report.duplicates else ""
    return "success", f"Imported {_drawings(report.added)}{dup}."


def render_transfer(store: PersonalSet, listing: Listing) -> None:
    """Export the set as a zip download; import one exported here (or on another machine)."""
    state = st.session_state
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Export**")
        st.caption("Every drawing with its label, as a zip you can import elsewhere.")
        st.download_button(
            "Download my digits (.zip)",
            data=store.export_zip,  # built only when clicked
            file_name="my-digits.zip",
            mime="application/zip",
            icon=":material/download:",
            disabled=not listing.items,
            key="md_export",
        )
        if listing.damaged:
            st.caption(
                f"{_drawings(len(listing.damaged))} with a damaged image file are left out of "
                f"the export (the archive's manifest lists them under 'left_out')."
            )
    with right:
        st.markdown("**Import**")
        upload = st.file_uploader(
            "A zip exported from My digits",
            type=["zip"],
            key="md_import",
            help=f"Up to {MAX_ZIP_BYTES // 2**20} MB. Drawings already here are skipped. A "
            "damaged or foreign archive is refused and nothing changes.",
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
    if view is not None and view.kind == FINETUNE and manager.touch(job_id, owner_id()):
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
    line = [f"step {done_steps} of {total}"]
    epoch = view.last.get("epoch")
    if epoch:
        line.append(f"your digits {epoch['val_acc']:.1%}")
        line.append(f"MNIST test {epoch['test_acc']:.2%}")
    if view.status in (jobs.QUEUED, jobs.PREPARING):
        line.insert(0, view.status.capitalize())
    st.caption(" · ".join(line))


def _results(view) -> None:
    done = view.last.get("done")
    if view.status == jobs.FAILED:
        st.error(f"Fine-tuning failed: {view.error}")
        return
    if view.status == jobs.DIVERGED:
        st.error(view.last["diverged"]["reason"])
        return
    if done is None:
        return
    rows = before_after_rows(done)
    table = []
    for r, places in zip(rows, (1, 2), strict=True):  # MNIST's 10,000 deserve two decimals
        table.append(
            {
                "Measured on": r["measured on"],
                "Before": f"{r['before']:.{places}%}",
                "After": f"{r['after']:.{places}%}",
                "Change": f"{100 * r['change']:+.{places}f} points",
            }
        )
    st.table(table)
    how = (
        f"Stopped after {done['step']} steps. " if done["stopped"] else f"{done['step']} steps. "
    ) + f"{done['train_seconds']:.1f} s of fine-tuning on {_drawings(done['n_personal'])}."
    if done["measured_on"] != "held-out":
        how += (
            " With fewer than 20 drawings nothing is held out, so 'your digits' is measured on "
            "the drawings it learnt from, which flatters it."
        )
    else:
        how += (
            f" A quarter of each digit ({done['n_heldout']} drawings) was held out: the network "
            "never learnt from them, so their accuracy is an honest test."
        )
    st.caption(how)

    saved = st.session_state.get("ft_saved")
    if saved and saved[0] == view.id:
        st.success(f"Saved as **{saved[1]}**, now the model in use (see the sidebar).")
        return
    with st.form("ft_save", border=False):
        name = st.text_input(
            "Save as",
            value=_suggest_name(view.meta["base"]),
            help="Letters, digits, '-' and '_'. The shipped 'default' is never replaced.",
        )
        if st.form_submit_button("Save the fine-tuned model", icon=":material/save:"):
            net = get_manager().snapshot(view.id, owner_id())
            base = Model(view.meta["base"], None, dict(view.meta["base_meta"]))
            config = FinetuneConfig.from_dict(view.meta["config"])
            try:
                if net is None:
                    raise ValueError("The fine-tuned network is gone; start again.")
                ws = current_workspace()
                ws.check_new_name(name.strip())
                save_finetuned(name.strip(), net, base, config, done, directory=ws.models)
            except (ValueError, FileExistsError) as e:
                st.error(str(e))
            else:
                st.session_state["ft_saved"] = (view.id, name.strip())
                st.session_state[MODEL_KEY] = name.strip()
                note_saved(view.id, name.strip())  # on the run's record in Runs
                st.rerun()


def render_finetune(store: PersonalSet, listing: Listing) -> None:
    """Start and stop fine-tuning of the model in use, its progress, before/after, save as."""
    st.subheader("Teach it your handwriting")
    if not listing.items:
        st.caption("Keep a few drawings first; then the network can learn from them here.")
        return
    model = current_model()
    if model is None:
        st.info("No model is available to fine-tune: choose or train one first.")
        return
    st.caption(
        f"Fine-tunes a copy of **{model.name}** (the model in use) on your "
        f"{_drawings(len(listing.items))}, mixed with MNIST digits so that it does not forget "
        f"them. Takes seconds. From {MIN_FOR_HOLDOUT} drawings on, a quarter is held out to "
        f"measure honestly."
    )
    view = _job_view()
    active = view is not None and view.active
    with st.expander("Settings"):
        c1, c2, c3 = st.columns(3)
        steps = c1.number_input(
            "Steps",
            50,
            5000,
            FinetuneConfig.steps,
            step=50,
            key="ft_steps",
            help="Updates of the weights; 300 is plenty for a few dozen drawings.",
        )
        share = c2.slider(
            "Share of your drawings per batch",
            0.05,
            1.0,
            FinetuneConfig.personal_share,
            step=0.025,
            key="ft_share",
            help="The rest of each batch is MNIST. More of yours learns faster but makes the "
            "network forget more of MNIST.",
        )
        lr = c3.number_input(
            "Learning rate",
            1e-5,
            1e-2,
            FinetuneConfig.lr,
            step=1e-4,
            format="%g",
            key="ft_lr",
            help="Adam's step size; ten times smaller than training's, so it adjusts gently.",
        )
    left, right = st.columns([1, 4])
    with left:
        if active:
            st.button(
                "Stop",
                key="ft_stop",
                icon=":material/stop:",
                on_click=get_manager().stop,
                args=(view.id, owner_id()),
            )
        elif st.button("Fine-tune", key="ft_start", type="primary", icon=":material/school:"):
            try:
                config = FinetuneConfig(steps=int(steps), personal_share=float(share), lr=float(lr))
            except ValueError as e:
                st.error(str(e))
            else:
                try:
                    _start(model, store, config)
                except ValueError as e:  # the queue is full: say so
                    st.error(str(e))
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
    with st.expander(f"Every model on MNIST and on your digits ({len(y)} kept)"):
        if len(y) == 0:
            st.caption(
                "Keep some drawings on the Draw page (Right / Wrong, it is ...) to see how each "
                "model reads your handwriting."
            )
            return
        rows = []
        ws = current_workspace()
        for name in ws.model_names():
            try:
                model = ws.load_model(name)
            except (ModelFileError, ValueError):
                continue
            score = score_arrays(model, X, y)
            rows.append(
                {
                    "Model": f"{name} (inspected)" if name == current else name,
                    "MNIST test": None if model.test_acc is None else f"{model.test_acc:.2%}",
                    "Your digits": f"{score.accuracy:.1%} ({score.correct}/{score.n})",
                    "Fine-tuned from": model.meta.get("finetune", {}).get("base_model", ""),
                }
            )
        st.dataframe(rows, hide_index=True)
        st.caption(
            "A fine-tuned model learnt from most of your digits, so its score here flatters it; "
            "the honest figure is the held-out one shown when it was fine-tuned (My digits)."
        )
