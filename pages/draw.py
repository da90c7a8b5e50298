"""Draw: a digit on the canvas, read as you draw by the model in use (also the one in training).

The current drawing is kept for other pages in session_state: "drawing_rgba" (the canvas's
(280, 280, 4) uint8 array or None) and "drawing_x28" (the (28, 28) float32 the network reads,
or None when there is nothing to read).
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from core.preprocess import canvas_from_png, canvas_to_mnist
from core.reading import read_canvas
from ui import charts
from ui.common import (
    LIVE,
    MODEL_KEY,
    current_model,
    ensure_app_navigation,
    model_notice,
    require_model,
    train_job_view,
)
from ui.i18n import say, t
from ui.insights import render_drawing_insights
from ui.personal import render_feedback
from ui.reading import render_reading

ensure_app_navigation()

CANVAS_SIDE = 280

state = st.session_state
state.setdefault("canvas_round", 0)  # a new canvas key clears the canvas
state.setdefault("drawing_rgba", None)
state.setdefault("drawing_x28", None)

st.title(t("draw.title"))
model = require_model()
if model_notice():  # the run in this tab cannot read: say which model reads instead, and why
    st.warning(model_notice(), icon=":material/swap_horiz:")
st.caption(t("draw.caption", model=model.name))

# --- the canvas ---------------------------------------------------------------------------------


def clear_drawing() -> None:
    """Clear acts in the button's callback, before the page is drawn again: one redraw brings
    the new, empty canvas. It used to take two (the button, then st.rerun), and a stroke drawn
    right after Clear was sometimes lost (the browser test that draws at once after Clear
    failed 2 times in 12 before, 0 in 12 after)."""
    state["canvas_round"] += 1
    state["drawing_rgba"] = state["drawing_x28"] = None


canvas_col, answer_col = st.columns([1, 2], gap="medium")
with canvas_col:
    pen = st.slider(
        t("draw.pen"),
        min_value=8,
        max_value=40,
        value=20,
        key="pen_width",
        help=t("draw.pen_help"),
    )
    result = st_canvas(
        stroke_width=pen,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=CANVAS_SIDE,
        width=CANVAS_SIDE,
        drawing_mode="freedraw",
        update_streamlit=True,
        return_image_data=True,
        key=f"canvas_{state['canvas_round']}",
    )
    st.button(t("draw.clear"), icon=":material/ink_eraser:", on_click=clear_drawing)

try:  # the PNG's header is checked (RGBA, at most 1024 x 1024) before a pixel is decoded
    rgba = canvas_from_png(result.image_bytes)
except ValueError as e:
    st.error(say(e))
    rgba = None
state["drawing_rgba"] = rgba
state["drawing_x28"] = None if rgba is None else canvas_to_mnist(rgba)

# --- the answer ---------------------------------------------------------------------------------


def answer(watching: bool) -> None:
    """The reading of the current drawing (a digit, or "?" and why); refreshed every second
    while the model trains."""
    x28 = st.session_state["drawing_x28"]
    model = current_model()
    if x28 is None or model is None:
        st.info(t("draw.prompt"))
        return
    reading = read_canvas(st.session_state["drawing_rgba"], model)
    if reading.probs is None:  # the same preprocessing found nothing: cannot happen, but be safe
        st.info(t("draw.prompt"))
        return
    left, right = st.columns([1.2, 1])
    with left:
        render_reading(reading, model.name)
        if watching:
            st.caption(t("draw.learning"))
        st.plotly_chart(
            charts.probabilities_figure(reading.probs),
            config={"displayModeBar": False},
            key="probs",
        )
    with right:
        st.plotly_chart(
            charts.digit_image_figure(x28), config={"displayModeBar": False}, key="seen"
        )
        st.caption(t("draw.seen_caption"))


job = train_job_view()
watching = state.get(MODEL_KEY) == LIVE and job is not None and job.active
with answer_col:
    st.fragment(answer, run_every=1.0 if watching else None)(watching)

# --- more about this drawing --------------------------------------------------------------------
# Further sections about the current drawing go here, below the answer, each taking
# (model, rgba, x28), e.g. ui.insights.render_drawing_insights(model, rgba, x28).

said = None if rgba is None else read_canvas(rgba, model)  # a "?" cannot be called right
render_feedback(model, state["drawing_rgba"], state["drawing_x28"], reading=said)  # My digits
render_drawing_insights(model, state["drawing_rgba"], state["drawing_x28"], said)  # see inside
