"""Home: what this is, where to start, and how good the model in use is."""

import streamlit as st

from ui.common import current_model, ensure_app_navigation, model_caption, model_problem

ensure_app_navigation()

st.title("Neural network digits")
st.markdown(
    "A small neural network, written from scratch in NumPy, learns to read handwritten digits "
    "from the 60,000 examples of **MNIST**, and then reads the digits you draw.\n\n"
    "- **Train** a network yourself and watch its loss fall and its accuracy climb, live.\n"
    "- **Draw** a digit and see what the network thinks it is, with all ten probabilities, "
    "even while it is still learning."
)

model = current_model()
left, right = st.columns([1, 2])
with left:
    if model is not None and model.test_acc is not None:
        st.metric("Test accuracy of the model in use", f"{model.test_acc:.2%}")
    elif model is not None:
        st.metric("Model in use", model.name)
with right:
    if model is not None:
        st.caption(f"Model in use: **{model.name}** ({model_caption(model)}).")
        st.caption("Accuracy is measured on the 10,000 MNIST test digits it never trained on.")
    elif model_problem():
        name, reason = model_problem()
        st.warning(f"The model {name!r} cannot be used right now: {reason}")

st.subheader("Where to start")
a, b = st.columns(2)
with a:
    st.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
    st.caption("The shipped model is already trained: draw a digit and it reads it.")
with b:
    st.page_link("pages/train.py", label="Train a network", icon=":material/model_training:")
    st.caption("Pick a preset and press Start; the charts move within seconds.")
