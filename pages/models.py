"""Models: download a saved model as one file, upload one, delete your own (never `default`)."""

import streamlit as st

from core.model_store import ModelFileError
from core.store.modelfile import MAX_FILE_BYTES
from ui.common import MODEL_KEY, current_workspace, ensure_app_navigation, model_caption

ensure_app_navigation()

state = st.session_state
ws = current_workspace()

st.title("Models")
st.caption(
    "Every model you can use. Download one as a single .npz file (its weights and everything "
    "about it: layer sizes, training setup, scores), bring one in from another computer, or "
    "delete the ones you no longer need. The shipped `default` model is never changed."
)


def _delete(name: str) -> None:
    try:
        ws.delete_model(name)
    except ValueError as e:  # not yours, or the disk refused (StorageError)
        state["models_message"] = ("error", str(e))
    else:
        state["models_message"] = ("success", f"Deleted {name}.")
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
            left.caption(f":red[Cannot be loaded]: {e}")
            model = None
        else:
            left.markdown(f"**{name}**" + ("" if mine else " · shared, read-only"))
            left.caption(model_caption(model))
        if model is not None:
            middle.download_button(
                "Download",
                data=lambda name=name: ws.model_file(name),  # built only when clicked
                file_name=f"{name}.npz",
                mime="application/zip",
                icon=":material/download:",
                key=f"models_download_{name}",
            )
        if mine:
            right.button(
                "Delete",
                key=f"models_delete_{name}",
                icon=":material/delete:",
                on_click=_delete,
                args=(name,),
            )

st.subheader("Upload a model")
upload = st.file_uploader(
    "A model file downloaded from this app (.npz)",
    type=["npz"],
    key="models_upload",
    help=f"Up to {MAX_FILE_BYTES // 2**20} MB. It is checked like any model file: its arrays "
    "must match its metadata, hold float32 or float64 numbers and nothing else.",
)
if upload is not None:
    default_name = upload.name.rsplit(".", 1)[0]
    name = st.text_input("Save as", value=default_name, key="models_upload_name").strip()
    if st.button("Add this model", icon=":material/upload:", disabled=not name):
        try:
            if upload.size > MAX_FILE_BYTES:
                raise ValueError(
                    f"The file is {upload.size / 2**20:.0f} MB; model files are at most "
                    f"{MAX_FILE_BYTES // 2**20} MB."
                )
            ws.import_model(name, upload.getvalue())
        except (ValueError, FileExistsError) as e:  # ModelFileError and StorageError included
            st.error(f"The model was not added. {e}")
        else:
            state["models_message"] = ("success", f"Added {name}; pick it in the sidebar.")
            st.rerun()
