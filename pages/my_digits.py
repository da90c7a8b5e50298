"""My digits: the drawings you kept with their labels. Browse and delete them, fine-tune a model
on them, and export or import them as a zip."""

import streamlit as st

from core.personal import PersonalSet
from ui.common import ensure_app_navigation
from ui.personal import render_collection, render_finetune, render_problems, render_transfer

ensure_app_navigation()

st.title("My digits")
st.caption(
    "Drawings you kept from the Draw page, each with the digit you meant. The network can learn "
    "your handwriting from them. They stay on this computer, under data/personal."
)

store = PersonalSet()
listing = store.listing()
render_problems(store, listing)
render_collection(store, listing)
st.divider()
render_finetune(store, listing)
st.divider()
st.subheader("Export and import")
render_transfer(store, listing)
