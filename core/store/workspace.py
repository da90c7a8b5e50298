"""Workspaces: whose drawings, saved models and runs these are.

On localhost there is one workspace, "local", and it is the folders the app always used
(weights/ for models, data/personal for drawings, data/runs for runs), so the CLI and the app
see the same models. On a shared server each signed-in user has a workspace of their own under
data/workspaces/<id>/ (models/, personal/, runs/), and every workspace also sees the models in
weights/ (the shipped `default`, and any a teacher put there) read-only. This module decides
folders and names only; it never imports streamlit and never reads st.user itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from core import model_store, paths
from core.messages import Message
from core.model_store import DEFAULT, Model

LOCAL = "local"  # the one workspace of an app that listens on this computer only
GUEST = "guest"  # everyone's workspace on a shared server without sign-in (a banner says so)
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class Workspace:
    """Where one user's things live. `shared_models` is read-only for them unless it is the
    same folder as `models` (the local workspace)."""

    id: str
    models: Path
    personal: Path
    runs: Path
    shared_models: Path
    label: str  # who, for people: "this computer", an e-mail address

    @property
    def private_models(self) -> bool:
        """Whether this workspace's models are kept apart from the shared ones."""
        return self.models.resolve() != self.shared_models.resolve()

    # --- models -------------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        """`default` first, then the shared models, then the workspace's own."""
        names = model_store.list_models(self.shared_models)
        if self.private_models:
            taken = {model_store.same_name_key(n) for n in names}
            own = model_store.list_models(self.models)
            names += [n for n in own if model_store.same_name_key(n) not in taken]
        return names

    def owns_model(self, name: str) -> bool:
        """Whether this workspace may replace or delete the model (never `default`)."""
        if not model_store.valid_name(name) or model_store.same_name_key(name) == DEFAULT:
            return False
        if self.private_models:
            return (self.models / f"{name}.npz").exists()
        return name in model_store.list_models(self.models)

    def folder_of(self, name: str) -> Path:
        """The folder a model is read from: the workspace's own, else the shared one."""
        if self.private_models and (self.models / f"{name}.npz").exists():
            return self.models
        return self.shared_models

    def load_model(self, name: str = DEFAULT) -> Model:
        return model_store.load_model(name, self.folder_of(name))

    def check_new_name(self, name: str) -> None:
        """Refuse a name a shared model already has (in any capitals): it could not be read."""
        ours = model_store.valid_name(name) and model_store.same_name_key(name) != DEFAULT
        if self.private_models and ours:
            taken = model_store.find_name(name, self.shared_models)
            if taken is not None:  # a ValueError: no "replace it?" offer, it cannot be replaced
                raise ValueError(
                    Message(
                        "errors.model.shared_name",
                        f"{taken!r} is a shared model on this server; choose another name.",
                        taken=taken,
                    )
                )

    def save_model(self, name: str, net, *args, **kwargs) -> Path:
        """model_store.save_model into this workspace (never over a shared model)."""
        self.check_new_name(name)
        return model_store.save_model(name, net, *args, directory=self.models, **kwargs)

    def import_model(self, name: str, blob: bytes, overwrite: bool = False) -> Path:
        """An uploaded model file, checked like any model file, saved into this workspace."""
        self.check_new_name(name)
        return model_store.import_model(name, blob, overwrite=overwrite, directory=self.models)

    def delete_model(self, name: str) -> None:
        if not self.owns_model(name):
            raise ValueError(
                Message(
                    "errors.model.not_yours",
                    f"{name!r} is not one of your models, so it cannot be deleted here.",
                    name=name,
                )
            )
        model_store.delete_model(name, self.models)

    def model_file(self, name: str) -> bytes:
        """The model as one downloadable file with its metadata."""
        return model_store.model_file_bytes(name, self.folder_of(name))


def local() -> Workspace:
    """The one workspace of an app on localhost: the folders the app always used."""
    return Workspace(
        id=LOCAL,
        models=paths.weights_dir(),
        personal=paths.personal_dir(),
        runs=paths.runs_dir(),
        shared_models=paths.weights_dir(),
        label="this computer",
    )


def _under(workspace_id: str, label: str) -> Workspace:
    if not _ID.fullmatch(workspace_id):
        raise ValueError(f"{workspace_id!r} is not a workspace id")
    root = paths.data_dir() / "workspaces" / workspace_id
    return Workspace(
        id=workspace_id,
        models=root / "models",
        personal=root / "personal",
        runs=root / "runs",
        shared_models=paths.weights_dir(),
        label=label,
    )


def guest() -> Workspace:
    """Everyone's workspace on a shared server where sign-in is not configured."""
    return _under(GUEST, "everyone on this server")


def for_user(issuer: str | None, subject: str | None, email: str | None = None) -> Workspace:
    """A signed-in user's workspace. OpenID Connect promises that (issuer, subject) names one
    person for good (an e-mail can change hands), so the id is a hash of both; the e-mail is
    only the fallback when a provider gives no subject, and the label."""
    if subject:
        key = f"oidc\n{issuer or ''}\n{subject}"
    elif email:
        key = f"email\n{email.strip().lower()}"
    else:
        raise ValueError("a signed-in user without a subject or an e-mail address")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return _under(f"u-{digest}", email or subject)
