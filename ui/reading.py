"""How the Draw page says what a drawing reads as: the digit, or "?" with the reason in plain
words and the top guesses. The decision itself is core/reading.py's; this module only words
and lays it out.
"""

from __future__ import annotations

import streamlit as st

from core import reading
from core.reading import Reading


def reason_text(r: Reading) -> str:
    """Why the reader gives no digit, in plain words ("" when it gives one)."""
    if r.reason == reading.MORE_THAN_ONE:
        return "This looks like more than one digit: draw one at a time."
    if r.reason == reading.TOO_SMALL:
        return (
            f"This is too small to read (it spans {r.size:.0%} of the square): draw the digit "
            "larger, filling most of the square."
        )
    if r.reason == reading.TOO_FAINT:
        return "The strokes are too faint to read: draw with bright white ink."
    if r.reason == reading.NOT_A_DIGIT:
        return (
            "This does not look like a digit (a letter, a shape or a scribble?): draw one of "
            "0 to 9."
        )
    if r.reason == reading.UNSURE:
        p, q = r.probs[r.best], r.probs[r.runner_up]
        return (
            f"Not sure: it could be a {r.best} ({p:.0%}) or a {r.runner_up} ({q:.0%}). "
            "Draw it more clearly to tell them apart."
        )
    if r.reason == reading.EMPTY:
        return "Draw a digit."
    return ""


def top_guesses_text(r: Reading, k: int = 3) -> str:
    """ "Top guesses: 4 (52%), 9 (30%), 7 (5%)" """
    return "Top guesses: " + ", ".join(f"**{d}** ({p:.0%})" for d, p in r.top(k))


def render_reading(r: Reading, model_name: str) -> None:
    """The Prediction metric ("?" when the reader cannot tell), and beneath it how sure, or
    why not with the top three guesses."""
    if r.digit is not None:
        st.metric("Prediction", str(r.digit), help=f"Read by {model_name}")
        st.caption(f"{r.probs[r.digit]:.1%} sure, according to {model_name}.")
        return
    st.metric("Prediction", "?", help=f"Read by {model_name}, which cannot tell this time")
    if r.reason == reading.UNSURE:
        st.warning(reason_text(r), icon=":material/help:")
    else:
        st.warning(reason_text(r), icon=":material/block:")
    st.caption(top_guesses_text(r))
