"""How it works: the article's forward and backward equations, each evaluated on one example
(the user's drawing or an MNIST test image), one gradient-descent step on a copy of the model,
and a gradient check. All numbers come from core.insight; this page only lays them out, in the
article's orientation (examples are columns) with the shape of every term beneath it."""

import streamlit as st

from core import insight
from core.data import open_mnist
from ui import insight_charts as charts
from ui.article import ARTICLE_URL, CODE_URL, require_article_model
from ui.common import ensure_app_navigation, require_model
from ui.equations import show_excerpt, term, tex_number
from ui.i18n import t
from ui.insights import ACTIVATION_TEX, image, mnist_ready

ensure_app_navigation()

st.title(t("how.title"))
st.markdown(t("how.intro", article=ARTICLE_URL, code=CODE_URL))

# The switch remembers its position in a plain key: a widget's own state is dropped while
# another page is shown, and a reader coming back expects the article's network still on.
ARTICLE_ON = "hiw_article_on"


def _remember_switch() -> None:
    st.session_state[ARTICLE_ON] = st.session_state["hiw_article"]


article = st.toggle(
    t("how.article_switch"),
    value=st.session_state.get(ARTICLE_ON, False),
    key="hiw_article",
    help=t("how.article_help"),
    on_change=_remember_switch,
)
model = require_article_model() if article else require_model()
net = model.net
depth = len(net.W)
act = net.activation
g = ACTIVATION_TEX[act]
sizes = "-".join(map(str, net.sizes))
st.caption(t("how.model_line", name=model.name, sizes=sizes, activation=act))

# --- the example ---------------------------------------------------------------------------------

drawing = st.session_state.get("drawing_x28")
sources = (["drawing"] if drawing is not None else []) + ["mnist"]
left, right = st.columns([3, 1])
with left:
    source = st.radio(
        t("how.example.label"),
        sources,
        format_func=lambda s: t(f"how.example.{s}"),
        horizontal=True,
        key="hiw_source",
    )
    if drawing is None:
        st.caption(t("how.example.draw_hint"))
    if source == "drawing":
        x, true_label = drawing, None
    else:
        if not mnist_ready():
            st.info(t("how.example.no_mnist"))
            st.page_link("pages/draw.py", label=t("how.go_to_draw"), icon=":material/draw:")
            st.stop()
        _, _, x_test, y_test = open_mnist()
        k = st.number_input(t("how.example.index"), 0, len(y_test) - 1, 0, key="hiw_index")
        x, true_label = insight.as_float(x_test[k]), int(y_test[k])
    reading = insight.read_digit(net, x)
    label = st.selectbox(
        t("how.example.answer"),
        range(10),
        index=reading.digit if true_label is None else true_label,
        key=f"hiw_label_{source}",
    )
with right:
    st.image(image(x), width=112)
    confidence = f"{reading.confidence:.1%}"
    if true_label is None:
        st.caption(t("how.example.reads", digit=reading.digit, confidence=confidence))
    else:
        st.caption(
            t(
                "how.example.reads_labelled",
                digit=reading.digit,
                confidence=confidence,
                label=true_label,
            )
        )

walk = insight.walkthrough(net, x, label)
cols = insight.article_view(walk)
focus = insight.focus_units(walk)

# --- notation, and how this model differs from the article's --------------------------------------

st.subheader(t("how.notation.title"))
st.markdown(t("how.notation.body", n1=net.sizes[1]))
if depth != 2:
    st.info(
        t(
            "how.note.depth",
            hidden=depth - 1,
            layers=rf"$l = 1, \dots, {depth}$",
            forward=r"$Z_l = W_l A_{l-1} + b_l$",
            activation=r"$A_l = g(Z_l)$",
            input=r"$A_0 = X$",
            backward=r"$dZ_l = W_{l+1}^T\, dZ_{l+1} \ast g'(Z_l)$",
        )
    )
if act != "relu":
    st.info(t("how.note.activation", activation=act, g=f"${g}$", g_prime=f"${g}'$"))


def kind(l: int) -> str:
    """What the entries of A_l are: pixels of X, or units of a layer."""
    return t("how.kind.pixel") if l == 0 else t("how.kind.unit", l=l)


def out_kind(l: int) -> str:
    return t("how.kind.digit") if l == depth else t("how.kind.unit", l=l)


def a_name(l: int) -> str:
    return "X" if l == 0 else f"A_{l}"


def why(l: int) -> str:
    """Why these entries (see insight.focus_units)."""
    return t("how.why.output") if l == depth else t("how.why.hidden")


def why_w(l: int) -> str:
    inputs = t("how.why.pixels") if l == 1 else t("how.why.inputs")
    return t("how.why.weights", inputs=inputs, why=why(l))


def code_a(l: int) -> str:
    return "X" if l == 0 else f"A{l}"


# --- forward -------------------------------------------------------------------------------------

st.header(t("how.forward.title"))
for l in range(1, depth + 1):
    inputs, units = focus[l - 1]
    n_in, n_out = net.sizes[l - 1], net.sizes[l]
    st.subheader(t("how.layer_output", l=l) if l == depth else t("how.layer", l=l))
    W, A_in, b, Z = cols.W[l - 1], cols.A[l - 1], cols.b[l - 1], cols.Z[l - 1]
    st.latex(
        rf"{term(f'Z_{l}', Z)} = {term(f'W_{l}', W)}\,{term(a_name(l - 1), A_in)}"
        rf" + {term(f'b_{l}', b)}"
    )
    st.caption(
        t(
            "how.code",
            code=f"Z{l} = {code_a(l - 1)} @ W{l} + b{l}",
            shapes=f"(1, {n_in}) @ ({n_in}, {n_out}) -> (1, {n_out})",
        )
    )
    show_excerpt(f"W_{l}", W, units, inputs, out_kind(l), kind(l - 1), why_w(l))
    show_excerpt(f"b_{l}", b, units, row_kind=out_kind(l), why=why(l))
    show_excerpt(f"Z_{l}", Z, units, row_kind=out_kind(l), why=why(l))
    A = cols.A[l]
    if l < depth:
        st.latex(rf"{term(f'A_{l}', A)} = {g}({term(f'Z_{l}', Z)})")
        show_excerpt(f"A_{l}", A, units, row_kind=out_kind(l), why=why(l))
    else:
        st.latex(
            rf"{term(f'A_{l}', A)} = \operatorname{{softmax}}({term(f'Z_{l}', Z)}),\quad "
            rf"A_{{{l},k}} = \frac{{e^{{Z_{{{l},k}}}}}}{{\sum_j e^{{Z_{{{l},j}}}}}}"
        )
        show_excerpt(f"A_{l}", A, units, row_kind=out_kind(l), why=why(l))
        st.caption(t("how.forward.softmax_note"))

# --- loss ----------------------------------------------------------------------------------------

st.header(t("how.loss.title"))
p_label = float(walk.P[0, label])
st.latex(
    rf"L = -\frac{{1}}{{m}}\sum_{{i=1}}^{{m}}\sum_{{k=0}}^{{9}} Y_{{k,i}} \log A_{{{depth},k,i}}"
    rf" = -\log A_{{{depth},{label}}} = -\log {tex_number(p_label)} = {tex_number(walk.loss)}"
)
st.caption(t("how.loss.note", label=label))
st.caption(t("how.loss.smoothing", label=label, depth=depth))

# --- backward ------------------------------------------------------------------------------------

st.header(t("how.backward.title"))
st.caption(t("how.backward.intro"))
for l in range(depth, 0, -1):
    inputs, units = focus[l - 1]
    n_in, n_out = net.sizes[l - 1], net.sizes[l]
    dZ, A_in = cols.dZ[l - 1], cols.A[l - 1]
    st.subheader(t("how.layer", l=l))
    if l == depth:
        st.latex(rf"{term(f'dZ_{l}', dZ)} = {term(f'A_{l}', cols.A[l])} - {term('Y', cols.Y)}")
        st.caption(t("how.code", code=f"dZ{l} = P - Y", shapes=f"(1, {n_out})"))
    else:
        n_next = net.sizes[l + 1]
        st.latex(
            rf"{term(f'dZ_{l}', dZ)} = {term(f'W_{l + 1}^T', cols.W[l].T)}\,"
            rf"{term(f'dZ_{l + 1}', cols.dZ[l])} \ast {g}'({term(f'Z_{l}', cols.Z[l - 1])})"
        )
        st.caption(
            t(
                "how.code",
                code=f"dZ{l} = (dZ{l + 1} @ W{l + 1}.T) * g_prime(Z{l})",
                shapes=f"(1, {n_next}) @ ({n_next}, {n_out}) -> (1, {n_out})",
            )
            + " "
            + (t("how.backward.relu_note") if act == "relu" else t("how.backward.silent_note"))
        )
    show_excerpt(f"dZ_{l}", dZ, units, row_kind=out_kind(l), why=why(l))
    dW = cols.dW[l - 1]
    st.latex(
        rf"{term(f'dW_{l}', dW)} = \frac{{1}}{{m}}\,{term(f'dZ_{l}', dZ)}\,"
        rf"{term(f'{a_name(l - 1)}^T', A_in.T)}"
    )
    st.caption(
        t(
            "how.code",
            code=f"dW{l} = {code_a(l - 1)}.T @ dZ{l} / m",
            shapes=f"({n_in}, 1) @ (1, {n_out}) -> ({n_in}, {n_out})",
        )
    )
    show_excerpt(f"dW_{l}", dW, units, inputs, out_kind(l), kind(l - 1), why_w(l))
    st.latex(rf"{term(f'db_{l}', cols.db[l - 1])} = \frac{{1}}{{m}}\sum_{{i=1}}^{{m}} dZ_{{{l},i}}")
    show_excerpt(f"db_{l}", cols.db[l - 1], units, row_kind=out_kind(l), why=why(l))

# --- update and one step -------------------------------------------------------------------------

st.header(t("how.step.title"))
st.latex(r"W_l := W_l - \alpha\, dW_l \qquad b_l := b_l - \alpha\, db_l")
lr = st.number_input(
    t("how.step.lr"),
    min_value=0.0001,
    max_value=10.0,
    value=0.01,
    step=0.005,
    format="%.4f",
    key="hiw_lr",
    help=t("how.step.lr_help"),
)
demo = insight.one_step(net, x, label, lr)
layer, i, j, w, dw, w_new = demo.entry  # i: input, j: unit, as the code stores W
st.latex(
    rf"W_{layer}[{j},{i}] := {tex_number(w)} - {tex_number(lr)} \times ({tex_number(dw)})"
    rf" = {tex_number(w_new)}"
)
st.caption(t("how.step.entry", layer=layer, unit=j, input=i))
c1, c2 = st.columns(2)
c1.metric(
    t("how.step.p_label", label=label),
    f"{demo.p_after:.2%}",
    t(
        "how.step.p_delta",
        delta=f"{(demo.p_after - demo.p_before) * 100:+.3f}",
        before=f"{demo.p_before:.2%}",
    ),
)
c2.metric(
    t("how.step.loss"),
    f"{demo.loss_after:.4f}",
    t(
        "how.step.loss_delta",
        delta=f"{demo.loss_after - demo.loss_before:+.4f}",
        before=f"{demo.loss_before:.4f}",
    ),
    delta_color="inverse",
)
st.plotly_chart(
    charts.before_after_figure(
        demo.P_before,
        demo.P_after,
        label,
        title=t("how.chart.step_title"),
        names=(t("how.chart.before"), t("how.chart.after")),
        mark=t("how.chart.label_mark"),
        digit=t("how.chart.digit"),
    ),
    key="hiw_step",
    config={"displayModeBar": False},
)
if demo.p_before > 0.99:
    st.info(t("how.step.already_sure", label=label))
st.caption(t("how.step.copy_note"))

# --- gradient check ------------------------------------------------------------------------------

st.header(t("how.check.title"))
st.latex(
    r"\frac{\partial L}{\partial w} \approx \frac{L(w+\varepsilon) - L(w-\varepsilon)}"
    r"{2\varepsilon},\quad \varepsilon = 10^{-5} \qquad"
    r"\text{" + t("how.check.rel_error") + r"} = \frac{|a-b|}{|a|+|b|}"
)
bug = st.checkbox(t("how.check.bug"), key="hiw_bug", help=t("how.check.bug_help"))
planted = insight.walkthrough(net, x, label, forget_activation_derivative=True).dW if bug else None
rows = insight.gradient_check(net, x, label, per_layer=4, dW=planted)
st.dataframe(
    [
        {
            t("how.check.col_weight"): f"W{r.layer}[{r.j}, {r.i}]",  # row = unit, as above
            t("how.check.col_backprop"): f"{r.backprop:.8e}",
            t("how.check.col_numeric"): f"{r.numeric:.8e}",
            t("how.check.col_error"): f"{r.rel_error:.1e}",
        }
        for r in rows
    ],
    hide_index=True,
)
st.plotly_chart(
    charts.gradcheck_figure(
        rows,
        title=t("how.chart.check_title"),
        agree=t("how.chart.check_agree"),
        bug=t("how.chart.check_bug"),
        axis=t("how.check.rel_error"),
        both_zero=t("how.chart.check_both_zero"),
    ),
    key="hiw_gradcheck",
    config={"displayModeBar": False},
)
worst = max((r.rel_error for r in rows), default=0.0)
verdict = (
    t("how.check.agrees")
    if worst < 1e-5
    else t("how.check.wrong")
    if worst > 1e-2
    else t("how.check.mostly")
)
st.markdown(t("how.check.worst", worst=f"{worst:.1e}", verdict=verdict))
st.caption(t("how.check.note"))
