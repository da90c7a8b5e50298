"""LaTeX for How it works: the article's equations with the shape of every term written beneath
it, and small excerpts of the live matrices.

Shapes always come from the arrays shown (core.insight.ArticleView, examples in columns), never
typed by hand, so an equation and the shapes printed with it cannot disagree. Terms multiplied
together are written side by side (`\\,`), anything else (+, *, g(...)) stands between them:
tests/test_how_it_works.py multiplies the shapes out on that rule.
"""

from __future__ import annotations

import streamlit as st

from core import insight
from ui.i18n import t


def tex_number(v: float) -> str:
    """A compact number for LaTeX: 0.0123, -1.2 x 10^-5."""
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.4g}"
    mant, exp = f"{v:.2e}".split("e")
    return rf"{mant}\!\times\!10^{{{int(exp)}}}"


def shape_tex(shape) -> str:
    """(10, 784) -> 10 \\times 784; a vector (n,) reads as a column, n x 1."""
    shape = tuple(shape) if len(shape) == 2 else (shape[0], 1)
    return r" \times ".join(str(s) for s in shape)


def term(name: str, M) -> str:
    """A symbol with its shape beneath it: \\underbrace{W_1}_{10 \\times 784}."""
    return rf"\underbrace{{{name}}}_{{{shape_tex(M.shape)}}}"


def tex_excerpt(ex: insight.Excerpt) -> str:
    """A bmatrix of an excerpt, with dots where the matrix goes on."""
    more_rows = len(ex.rows) < ex.shape[0]
    more_cols = len(ex.cols) < (ex.shape[1] if len(ex.shape) == 2 else 1)
    lines = []
    for row in ex.values:
        cells = [tex_number(v) for v in row]
        if more_cols:
            cells.append(r"\cdots")
        lines.append(" & ".join(cells))
    if more_rows:
        lines.append(" & ".join([r"\vdots"] * len(ex.cols) + ([r"\ddots"] if more_cols else [])))
    return r"\begin{bmatrix}" + r" \\ ".join(lines) + r"\end{bmatrix}"


def show_excerpt(name: str, M, rows, cols=None, row_kind="", col_kind="", why="") -> None:
    """One quantity: its name, shape and a few entries (rows are units, as in the article)."""
    ex = insight.excerpt(M, rows=rows, cols=[0] if M.shape[1] == 1 else cols)
    st.latex(rf"{name}\ \scriptstyle({shape_tex(M.shape)}):\ \displaystyle {tex_excerpt(ex)}")
    rows_txt = ", ".join(map(str, ex.rows))
    why = t("how.excerpt.why", why=why) if why else ""
    if M.shape[1] == 1:
        st.caption(t("how.excerpt.vector", kind=row_kind, rows=rows_txt, why=why))
    else:
        cols_txt = ", ".join(map(str, ex.cols))
        st.caption(
            t(
                "how.excerpt.matrix",
                row_kind=row_kind,
                rows=rows_txt,
                col_kind=col_kind,
                cols=cols_txt,
                why=why,
            )
        )
