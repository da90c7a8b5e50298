"""The article's own network for How it works: the `seed` preset (784-10-10, full-batch gradient
descent), trained once on first use as a background job, then saved among the user's models as
"article" and reused from then on.

It reaches jobs only through the job manager's public calls (submit, views, get, touch, forget)
and models through core.model_store; the owner of the job and the folder of the saved model are
the ones the rest of the app uses (`_owner`, `save_model`'s default folder), so a change there
lands here by changing one line.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from core.jobs import JobView, get_manager
from core.model_store import Model, ModelFileError
from core.train import TrainConfig, preset
from ui.common import browser_here, current_workspace, owner_id
from ui.i18n import t

# The article this app grew from, and its author's code (names in locales/*.json: "article.*").
ARTICLE_URL = (
    "https://towardsdatascience.com/"
    "can-you-code-a-neural-network-using-only-high-school-mathematics-ac9ad80f52f7"
)
CODE_URL = "https://github.com/Prashantmdgl9/NN_scratch"

ARTICLE_MODEL = "article"  # the saved model's name
ARTICLE_JOB = "article"  # the job kind, so it never mixes with the Train page's job
ARTICLE_PRESET = "seed"
ARTICLE_SIZES = [784, 10, 10]


def article_config() -> TrainConfig:
    """The article's recipe: 784-10-10, ReLU, full batch, lr 0.10, 500 iterations."""
    return preset(ARTICLE_PRESET)


def _owner() -> str:
    return owner_id()  # the workspace: the run and the saved model are the user's


def saved_article_model() -> Model | None:
    """The saved "article" model, or None when it was never trained.

    Raises ModelFileError when the file exists but cannot be used (damaged, or not 784-10-10).
    """
    workspace = current_workspace()
    if ARTICLE_MODEL not in workspace.model_names():
        return None
    model = workspace.load_model(ARTICLE_MODEL)
    if list(model.net.sizes) != ARTICLE_SIZES:
        sizes = "-".join(map(str, model.net.sizes))
        raise ModelFileError(t("article.not_the_article", name=ARTICLE_MODEL, sizes=sizes))
    return model


def article_job() -> JobView | None:
    """This owner's latest article-training job, or None."""
    views = get_manager().views(owner=_owner(), kind=ARTICLE_JOB)
    return views[-1] if views else None


def start_article_training() -> str:
    """Queue the `seed` run in the background; returns the job id."""
    config = article_config()
    return get_manager().submit(
        ARTICLE_JOB,
        jobs.training_job(config),
        owner=_owner(),
        meta={"config": config.to_dict(), "preset": ARTICLE_PRESET},
    )


def save_article_model(view: JobView) -> Model:
    """Save a finished article run as "article" (or take the one another tab saved first)."""
    manager = get_manager()
    net = manager.snapshot(view.id, _owner())
    if net is None:
        raise ValueError(t("article.no_weights"))
    workspace = current_workspace()
    try:
        workspace.save_model(
            ARTICLE_MODEL,
            net,
            TrainConfig.from_dict(dict(view.meta["config"])),
            metrics=dict(view.last["done"]),
            command=f"How it works, the article's network (preset {ARTICLE_PRESET!r})",
        )
    except FileExistsError:
        pass  # another tab finished first: its model is the same recipe
    manager.forget(view.id, _owner())
    return workspace.load_model(ARTICLE_MODEL)


def require_article_model() -> Model:
    """The article's trained network; on first use, trains it while showing progress.

    Stops the page (st.stop) while the run is under way, or with a message if it failed.
    """
    try:
        model = saved_article_model()
    except ModelFileError as e:
        st.error(t("article.cannot_use", reason=str(e)))
        st.stop()
    if model is not None:
        return model
    view = article_job()
    if view is not None and view.status == jobs.DONE:
        return save_article_model(view)
    if view is not None and view.finished:
        st.error(t("article.failed", status=view.status, error=view.error or "-"))
        if st.button(t("article.retry"), key="hiw_article_retry"):
            get_manager().forget(view.id, _owner())
            start_article_training()
            st.rerun()
        st.stop()
    if view is None:
        start_article_training()
    st.info(t("article.training_intro"))
    st.fragment(_progress, run_every=1.0)()
    st.stop()


def _progress() -> None:
    view = article_job()
    if view is None or view.finished:
        st.rerun()  # done (or gone): the whole page picks the model up
    get_manager().touch(view.id, _owner(), browser_here())
    start, step, data = view.last.get("start"), view.last.get("step"), view.last.get("data")
    if view.status == jobs.QUEUED:
        fraction, line = 0.0, t("article.queued", position=view.position)
    elif step and start:
        done, total = step["step"], start["total_steps"]
        fraction = min(1.0, done / max(1, total))
        line = t("article.progress", step=done, total=total, loss=f"{step['loss']:.3f}")
    else:
        fraction = (data or {}).get("fraction") or 0.0
        line = t("article.preparing")
    st.progress(fraction, text=line)
