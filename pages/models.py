"""Models: download a saved model as one file, upload one, delete your own (never `default`)."""

import streamlit as st

from core.model_store import ModelFileError
from core.store.modelfile import MAX_FILE_BYTES
from ui.common import MODEL_KEY, current_workspace, ensure_app_navigation, model_caption
from ui.i18n import say, t

ensure_app_navigation()

state = st.session_state
ws = current_workspace()

st.title(t("models.title"))
st.caption(t("models.intro"))


def _delete(name: str) -> None:
    try:
        ws.delete_model(name)
    except ValueError as e:  # not yours, or the disk refused (StorageError)
        state["models_message"] = ("error", say(e))
    else:
        state["models_message"] = ("success", t("models.deleted", name=name))
        if state.get(MODEL_KEY) == name:
            state.pop(MODEL_KEY)  # back to default


message = state.pop("models_message", None)
if message:
    (st.success if message[0] == "success" else st.error)(message[1])

for name in ws.model_names():
    with st.container(border=True):
        left, middle, right = st.columns([3, 1, 1], vertical_alignment="center")
        mine = ws.owns_model(name)
        try:
            model = ws.load_model(name)
        except (ModelFileError, ValueError) as e:
            left.markdown(f"**{name}**")
            left.caption(t("models.cannot_load", reason=say(e)))
            model = None
        else:
            left.markdown(f"**{name}**" + ("" if mine else t("models.shared")))
            left.caption(model_caption(model))
        if model is not None:
            middle.download_button(
                t("models.download"),
                data=lambda name=name: ws.model_file(name),  # built only when clicked
                file_name=f"{name}.npz",
                mime="application/zip",
                icon=":material/download:",
                key=f"models_download_{name}",
            )
        if mine:
            right.button(
                t("models.delete"),
                key=f"models_delete_{name}",
                icon=":material/delete:",
                on_click=_delete,
                args=(name,),
            )

st.subheader(t("models.upload.title"))
limit = MAX_FILE_BYTES // 2**20
upload = st.file_uploader(
    t("models.upload.label"),
    type=["npz"],
    key="models_upload",
    help=t("models.upload.help", limit=limit),
)
if upload is not None:
    default_name = upload.name.rsplit(".", 1)[0]
    name = st.text_input(
        t("models.upload.save_as"), value=default_name, key="models_upload_name"
    ).strip()
    if st.button(t("models.upload.add"), icon=":material/upload:", disabled=not name):
        try:
            if upload.size > MAX_FILE_BYTES:  # refused before its bytes are read
                mb = upload.size // 2**20
                raise ModelFileError(t("models.upload.too_large", mb=mb, limit=limit))
            ws.import_model(name, upload.getvalue())
        except (ValueError, FileExistsError) as e:  # ModelFileError and StorageError included
            st.error(t("models.upload.not_added", reason=say(e)))
        else:
            state["models_message"] = ("success", t("models.upload.added", name=name))
            st.rerun()
