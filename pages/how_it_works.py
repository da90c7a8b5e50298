"""How it works: the article's forward and backward equations, each evaluated on one example
(the user's drawing or an MNIST test image), one gradient-descent step on a copy of the model,
and a gradient check. All numbers come from core.insight; this page only lays them out."""

import streamlit as st

from core import insight
from core.data import load_mnist
from ui import insight_charts as charts
from ui.common import ensure_app_navigation, require_model
from ui.insights import (
    ACTIVATION_TEX,
    image,
    mnist_ready,
    show_excerpt,
    tex_number,
)

ensure_app_navigation()

st.title("How it works")
st.caption(
    "The article this app grew from trains its network with a dozen equations written on paper. "
    "Here every one of them runs on a real example, through the model you chose, with the "
    "actual numbers."
)

model = require_model()
net = model.net
depth = len(net.W)
act = net.activation
g = ACTIVATION_TEX[act]

# --- the example ---------------------------------------------------------------------------------

drawing = st.session_state.get("drawing_x28")
sources = (["Your drawing"] if drawing is not None else []) + ["An MNIST test image"]
left, right = st.columns([3, 1])
with left:
    source = st.radio("Example", sources, horizontal=True, key="hiw_source")
    if drawing is None:
        st.caption("Draw a digit on the Draw page to follow your own drawing through here.")
    if source == "Your drawing":
        x, true_label = drawing, None
    else:
        if not mnist_ready():
            st.info(
                "MNIST is not downloaded yet, and there is no drawing to use instead. Draw a "
                "digit on the Draw page, or train a model once (Train page) to fetch MNIST."
            )
            st.page_link("pages/draw.py", label="Go to Draw", icon=":material/draw:")
            st.stop()
        _, _, x_test, y_test = load_mnist()
        k = st.number_input("Test image number", 0, len(y_test) - 1, 0, key="hiw_index")
        x, true_label = insight.as_float(x_test[k]), int(y_test[k])
    reading = insight.read_digit(net, x)
    label = st.selectbox(
        "The right answer Y (pick another digit to see the loss and gradients change)",
        range(10),
        index=reading.digit if true_label is None else true_label,
        key=f"hiw_label_{source}",
    )
with right:
    st.image(image(x), width=112)
    truth = "" if true_label is None else f", labelled {true_label}"
    st.caption(f"The network reads **{reading.digit}** ({reading.confidence:.1%}){truth}.")

walk = insight.walkthrough(net, x, label)
focus = insight.focus_units(walk)

with st.expander("Rows or columns? How the code's notation differs from the article's"):
    st.markdown(
        "The article keeps examples in **columns**: X is 784 x m and W1 is n1 x 784, so it "
        "writes Z1 = W1 X + b1. The code keeps examples in **rows** (X is m x 784, the way "
        "NumPy and MNIST store them), so every product is the transpose: Z1 = X W1 + b1 with "
        "W1 of shape 784 x n1, and the article's dW1 = (1/m) dZ1 Xᵀ becomes (1/m) Xᵀ dZ1. The "
        "numbers are identical. Below, equations are written as in the article; the shapes and "
        "entries are the code's. Here m = 1: one example."
    )
notes = []
if depth != 2:
    notes.append(
        f"This model has {depth - 1} hidden layers; the article's has "
        f"one. The same pair of lines repeats for each layer l = 1 ... {depth}: "
        "Z_l = W_l A_(l-1) + b_l and A_l = g(Z_l), with A_0 = X and softmax only at the last "
        "layer; backwards, dZ_l = W_(l+1)ᵀ dZ_(l+1) * g'(Z_l) repeats downwards."
    )
if act != "relu":
    notes.append(
        f"This model uses {act} where the article uses ReLU, so g and g' below are {act} and "
        "its derivative."
    )
for note in notes:
    st.info(note)


def kind(l: int) -> str:
    return "pixel" if l == 0 else f"layer-{l} unit"


def a_name(l: int) -> str:
    return "X" if l == 0 else f"A_{l}"


def why(l: int) -> str:
    """Why these entries (see insight.focus_units)."""
    if l == depth:
        return "the likeliest digits and the label"
    return "the two highest and two lowest Z, so both sides of g show"


def why_w(l: int) -> str:
    return f"the most active {'pixels' if l == 1 else 'inputs'}; {why(l)}"


# --- forward -------------------------------------------------------------------------------------

st.header("1. Forward pass")
for l in range(1, depth + 1):
    inputs, units = focus[l - 1]
    out_kind = "digit" if l == depth else f"layer-{l} unit"
    st.subheader(f"Layer {l}" + (" (output)" if l == depth else ""))
    st.latex(rf"Z_{l} = W_{l}\,{a_name(l - 1)} + b_{l}")
    st.caption(
        f"In code: `Z{l} = {'X' if l == 1 else f'A{l - 1}'} @ W{l} + b{l}`, "
        f"(1, {net.sizes[l - 1]}) @ ({net.sizes[l - 1]}, {net.sizes[l]}) -> (1, {net.sizes[l]})"
    )
    show_excerpt(f"W_{l}", walk.W[l - 1], inputs, units, kind(l - 1), out_kind, why_w(l))
    show_excerpt(f"b_{l}", walk.b[l - 1], cols=units, col_kind=out_kind, why=why(l))
    show_excerpt(f"Z_{l}", walk.Z[l - 1], cols=units, col_kind=out_kind, why=why(l))
    if l < depth:
        st.latex(rf"A_{l} = {g}(Z_{l})")
        show_excerpt(f"A_{l}", walk.A[l], cols=units, col_kind=out_kind, why=why(l))
    else:
        st.latex(
            rf"A_{l} = \operatorname{{softmax}}(Z_{l}),\quad A_{{{l},k}} = "
            rf"\frac{{e^{{Z_{{{l},k}}}}}}{{\sum_j e^{{Z_{{{l},j}}}}}}"
        )
        show_excerpt(f"A_{l}", walk.A[l], cols=units, col_kind="digit", why=why(l))
        st.caption("Ten probabilities that add up to 1: the network's answer is the largest.")

# --- loss ----------------------------------------------------------------------------------------

st.header("2. The loss")
p_label = float(walk.P[0, label])
st.latex(
    rf"L = -\frac{{1}}{{m}}\sum_{{i=1}}^{{m}}\sum_{{k=0}}^{{9}} Y_{{ik}} \log A_{{{depth},ik}}"
    rf" = -\log A_{{{depth},{label}}} = -\log {tex_number(p_label)} = {tex_number(walk.loss)}"
)
st.caption(
    f"Y is the one-hot answer (a 1 at digit {label}), so only the probability given to the right "
    "answer counts: near 1 gives a loss near 0, a small one a large loss. Pick another digit "
    "above to see it grow."
)

# --- backward ------------------------------------------------------------------------------------

st.header("3. Backward pass")
st.caption(
    "The chain rule, from the output down. Softmax and cross-entropy together have the simple "
    "derivative A - Y, which is where the backward pass starts."
)
for l in range(depth, 0, -1):
    inputs, units = focus[l - 1]
    out_kind = "digit" if l == depth else f"layer-{l} unit"
    st.subheader(f"Layer {l}")
    if l == depth:
        st.latex(rf"dZ_{l} = A_{l} - Y")
        st.caption(f"In code: `dZ{l} = P - Y`, (1, 10)")
    else:
        st.latex(rf"dZ_{l} = W_{l + 1}^T\, dZ_{l + 1} \ast {g}'(Z_{l})")
        st.caption(
            f"In code: `dZ{l} = (dZ{l + 1} @ W{l + 1}.T) * g_prime(Z{l})`, "
            f"(1, {net.sizes[l + 1]}) @ ({net.sizes[l + 1]}, {net.sizes[l]}) -> "
            f"(1, {net.sizes[l]}). A unit that did not fire passes no gradient back"
            + (" (ReLU' is 0 there)." if act == "relu" else ".")
        )
    show_excerpt(f"dZ_{l}", walk.dZ[l - 1], cols=units, col_kind=out_kind, why=why(l))
    st.latex(rf"dW_{l} = \frac{{1}}{{m}}\, dZ_{l}\, {a_name(l - 1)}^T")
    st.caption(
        f"In code: `dW{l} = {'X' if l == 1 else f'A{l - 1}'}.T @ dZ{l} / m`, "
        f"({net.sizes[l - 1]}, 1) @ (1, {net.sizes[l]}) -> ({net.sizes[l - 1]}, {net.sizes[l]})"
    )
    show_excerpt(f"dW_{l}", walk.dW[l - 1], inputs, units, kind(l - 1), out_kind, why_w(l))
    st.latex(rf"db_{l} = \frac{{1}}{{m}}\sum_{{i=1}}^{{m}} dZ_{{{l},i}}")
    show_excerpt(f"db_{l}", walk.db[l - 1], cols=units, col_kind=out_kind, why=why(l))

# --- update and one step -------------------------------------------------------------------------

st.header("4. The update rule, one step")
st.latex(r"W_l := W_l - \alpha\, dW_l \qquad b_l := b_l - \alpha\, db_l")
lr = st.number_input(
    "Learning rate α",
    min_value=0.0001,
    max_value=10.0,
    value=0.01,
    step=0.005,
    format="%.4f",
    key="hiw_lr",
    help="One step on this single example. Large values overshoot; try 0.001, 0.01, 0.1, 1.",
)
demo = insight.one_step(net, x, label, lr)
layer, i, j, w, dw, w_new = demo.entry
st.latex(
    rf"W_{layer}[{i},{j}] := {tex_number(w)} - {tex_number(lr)} \times ({tex_number(dw)})"
    rf" = {tex_number(w_new)}"
)
st.caption(f"The entry of W{layer} with the largest gradient; every weight moves the same way.")
c1, c2 = st.columns(2)
c1.metric(
    f"P(digit {label})",
    f"{demo.p_after:.2%}",
    f"{(demo.p_after - demo.p_before) * 100:+.3f} points (was {demo.p_before:.2%})",
)
c2.metric(
    "Loss",
    f"{demo.loss_after:.4f}",
    f"{demo.loss_after - demo.loss_before:+.4f} (was {demo.loss_before:.4f})",
    delta_color="inverse",
)
st.plotly_chart(
    charts.before_after_figure(demo.P_before, demo.P_after, label),
    key="hiw_step",
    config={"displayModeBar": False},
)
if demo.p_before > 0.99:
    st.info(
        f"The network is already sure of {label}, so there is little left to learn. Pick "
        "another digit as the right answer above to watch one step pull it that way."
    )
st.caption(
    "This step was taken on a copy: the saved model is unchanged. Training repeats it on batches "
    "of many images, so no single drawing pulls the weights too far."
)

# --- gradient check ------------------------------------------------------------------------------

st.header("5. Is backprop right? A gradient check")
st.latex(
    r"\frac{\partial L}{\partial w} \approx \frac{L(w+\varepsilon) - L(w-\varepsilon)}"
    r"{2\varepsilon},\quad \varepsilon = 10^{-5} \qquad"
    r"\text{relative error} = \frac{|a-b|}{|a|+|b|}"
)
bug = st.checkbox(
    "Plant a bug in backprop: forget the g'(Z) factor",
    key="hiw_bug",
    help="A classic mistake. Watch which weights the check flags.",
)
planted = insight.walkthrough(net, x, label, forget_activation_derivative=True).dW if bug else None
rows = insight.gradient_check(net, x, label, per_layer=4, dW=planted)
st.dataframe(
    [
        {
            "weight": f"W{r.layer}[{r.i}, {r.j}]",
            "backprop": f"{r.backprop:.8e}",
            "finite differences": f"{r.numeric:.8e}",
            "relative error": f"{r.rel_error:.1e}",
        }
        for r in rows
    ],
    hide_index=True,
)
st.plotly_chart(
    charts.gradcheck_figure(rows), key="hiw_gradcheck", config={"displayModeBar": False}
)
worst = max((r.rel_error for r in rows), default=0.0)
verdict = (
    "Backprop agrees with finite differences."
    if worst < 1e-5
    else "Some gradients disagree: backprop (as computed here) is wrong."
    if worst > 1e-2
    else "Mostly agrees; an error around 1e-4 is worth a second look."
)
st.markdown(f"**Worst relative error {worst:.1e}.** {verdict}")
st.caption(
    "Both columns estimate the same derivative in two unrelated ways. In float64 with ε = 1e-5, "
    "finite differences are good to about 7-10 digits, so a relative error near 1e-7 or below "
    "means the two agree as well as they can. Around 1e-4 is suspicious (or ±ε straddled a ReLU "
    "kink); 1e-2 or more means a bug. An error of exactly 0 with both columns 0 is a weight into "
    "a unit that did not fire: it cannot change the loss either way."
)
