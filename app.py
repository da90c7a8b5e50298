"""The app's entry point: `streamlit run app.py`. Declares the pages and draws the shared sidebar.

Pages live in pages/ and stay thin; shared helpers are in ui/, the engine in core/.
"""

import streamlit as st

from ui.common import keep_widget_state, render_sidebar, setup_app

st.set_page_config(page_title="Neural network digits", page_icon=":material/draw:", layout="wide")
setup_app()
keep_widget_state()

nav = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/stacked_line_chart:"),
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:"),
        st.Page("pages/my_digits.py", title="My digits", icon=":material/collections_bookmark:"),
        st.Page("pages/inspect.py", title="Inspect", icon=":material/query_stats:"),
        st.Page("pages/how_it_works.py", title="How it works", icon=":material/function:"),
    ]
)
render_sidebar()
nav.run()
