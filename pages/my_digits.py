"""My digits: the drawings you kept with their labels. Browse and delete them, fine-tune a model
on them, and export or import them as a zip."""

import streamlit as st

from ui.common import ensure_app_navigation, is_shared
from ui.personal import (
    render_collection,
    render_finetune,
    render_problems,
    render_transfer,
    workspace_store,
)

ensure_app_navigation()

st.title("My digits")
where = "in your own space on this server" if is_shared() else "on this computer, in data/personal"
st.caption(
    "Drawings you kept from the Draw page, each with the digit you meant. The network can learn "
    f"your handwriting from them. They stay {where}."
)

store = workspace_store()
listing = store.listing()
render_problems(store, listing)
render_collection(store, listing)
st.divider()
render_finetune(store, listing)
st.divider()
st.subheader("Export and import")
render_transfer(store, listing)
