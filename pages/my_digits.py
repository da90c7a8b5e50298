"""My digits: the drawings you kept with their labels. Browse and delete them, fine-tune a model
on them, and export or import them as a zip."""

import streamlit as st

from ui.common import ensure_app_navigation, is_shared
from ui.i18n import t
from ui.personal import (
    render_collection,
    render_finetune,
    render_problems,
    render_transfer,
    workspace_store,
)

ensure_app_navigation()

st.title(t("my_digits.title"))
where = t("my_digits.where_shared") if is_shared() else t("my_digits.where_local")
st.caption(t("my_digits.intro", where=where))

store = workspace_store()
listing = store.listing()
render_problems(store, listing)
render_collection(store, listing)
st.divider()
render_finetune(store, listing)
st.divider()
st.subheader(t("my_digits.transfer.title"))
render_transfer(store, listing)
