"""How the Draw page says what a drawing reads as: the digit, or "?" with the reason in plain
words and the top guesses. The decision itself is core/reading.py's (a reason code); this module
only words it, in the reader's language ("reading.*" in locales/), and lays it out.
"""

from __future__ import annotations

import streamlit as st

from core import reading
from core.reading import Reading
from ui.i18n import t

# core's reason codes -> their catalog keys (UNSURE and TOO_SMALL fill in numbers)
REASON_KEYS = {
    reading.MORE_THAN_ONE: "reading.more_than_one",
    reading.TOO_SMALL: "reading.too_small",
    reading.TOO_FAINT: "reading.too_faint",
    reading.NOT_A_DIGIT: "reading.not_a_digit",
    reading.UNSURE: "reading.unsure",
    reading.EMPTY: "reading.empty",
}


def a_digit(d: int) -> str:
    """ "a 4", "an 8" in English; the bare digit in Chinese."""
    return t("reading.a_digit_an" if d == 8 else "reading.a_digit", digit=d)


def reason_text(r: Reading) -> str:
    """Why the reader gives no digit, in plain words ("" when it gives one)."""
    key = REASON_KEYS.get(r.reason)
    if key is None:
        return ""
    if r.reason == reading.TOO_SMALL:
        return t(key, size=f"{r.size:.0%}")
    if r.reason == reading.UNSURE:
        p, q = r.probs[r.best], r.probs[r.runner_up]
        return t(
            key, best=a_digit(r.best), p=f"{p:.0%}", runner_up=a_digit(r.runner_up), q=f"{q:.0%}"
        )
    return t(key)


def top_guesses_text(r: Reading, k: int = 3) -> str:
    """ "Top guesses: 4 (52%), 9 (30%), 7 (5%)" """
    return t("reading.top", guesses=", ".join(f"**{d}** ({p:.0%})" for d, p in r.top(k)))


def render_reading(r: Reading, model_name: str) -> None:
    """The Prediction metric ("?" when the reader cannot tell), and beneath it how sure, or
    why not with the top three guesses."""
    if r.digit is not None:
        st.metric(
            t("reading.prediction"), str(r.digit), help=t("reading.read_by", model=model_name)
        )
        st.caption(t("reading.sure", p=f"{r.probs[r.digit]:.1%}", model=model_name))
        return
    help_ = t("reading.cannot_tell_help", model=model_name)
    st.metric(t("reading.prediction"), "?", help=help_)
    if r.reason == reading.UNSURE:
        st.warning(reason_text(r), icon=":material/help:")
    else:
        st.warning(reason_text(r), icon=":material/block:")
    st.caption(top_guesses_text(r))
