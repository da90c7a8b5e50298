"""Two people on one shared server never see, change or control each other's drawings, models or
runs; a shared server without sign-in says so on every page; localhost stays one workspace.

Users are simulated with AppTest's `user` (what `st.user` reads), as Streamlit documents; the
store, the job manager and the pages are the real ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import paths
from core.jobs import get_manager
from core.network import init_network
from core.personal import PersonalSet
from core.store import workspace
from tests.job_tasks import Ticker

APP = str(Path(__file__).resolve().parent.parent / "app.py")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}
ALICE = {"is_logged_in": True, "iss": "https://idp.example", "sub": "alice-1", "email": "a@x.org"}
BOB = {"is_logged_in": True, "iss": "https://idp.example", "sub": "bob-2", "email": "b@x.org"}
PAGES = [None, "pages/train.py", "pages/draw.py", "pages/my_digits.py", "pages/models.py"]


@pytest.fixture
def shared_server(tmp_path, monkeypatch):
    """Temp weights (the shipped default) and data folders, and the switch that says shared."""
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy2(paths.shipped_weights_dir() / "default.npz", weights / "default.npz")
    monkeypatch.setenv("NNDIGITS_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NNDIGITS_SHARED", "1")
    yield tmp_path
    manager = get_manager()
    for view in manager.views():
        manager.forget(view.id, view.owner)


def open_as(user: dict | None, page: str | None = None, query: dict | None = None, auth=True):
    at = AppTest.from_file(APP, default_timeout=60)
    if auth:
        at.secrets["auth"] = AUTH
    if user is not None:
        at.user = user
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def text(at: AppTest) -> str:
    parts = [at.markdown, at.caption, at.info, at.warning, at.error, at.success, at.title]
    return "\n".join(str(e.value) for kind in parts for e in kind)


def ws(user: dict):
    return workspace.for_user(user["iss"], user["sub"], user["email"])


def test_each_signed_in_user_sees_only_their_own_models(shared_server):
    net = init_network([784, 8, 10], "relu", np.random.default_rng(0))
    ws(ALICE).save_model("alices-model", net)
    alice = open_as(ALICE, "pages/models.py")
    bob = open_as(BOB, "pages/models.py")
    assert not alice.exception and not bob.exception
    assert "alices-model" in alice.sidebar.selectbox[0].options
    assert "alices-model" not in bob.sidebar.selectbox[0].options
    assert "alices-model" in text(alice) and "alices-model" not in text(bob)
    assert "default" in bob.sidebar.selectbox[0].options  # the shipped model is everyone's
    assert not [b for b in bob.button if b.key == "models_delete_alices-model"]
    assert not [b for b in bob.button if b.key == "models_delete_default"]
    # Bob saving the same name gets his own model; Alice's stays hers, unchanged
    ws(BOB).save_model("alices-model", init_network([784, 4, 10], "relu", np.random.default_rng(1)))
    assert ws(ALICE).load_model("alices-model").net.sizes == [784, 8, 10]
    [delete] = [b for b in alice.button if b.key == "models_delete_alices-model"]
    delete.click().run()
    assert "Deleted alices-model" in text(alice)
    assert ws(BOB).load_model("alices-model").net.sizes == [784, 4, 10]


def test_a_user_cannot_pick_or_load_another_users_model_by_name(shared_server):
    ws(ALICE).save_model("secret", init_network([784, 8, 10], "relu", np.random.default_rng(0)))
    bob = open_as(BOB)
    bob.session_state["model_choice"] = "secret"  # as if Bob typed its name
    bob.switch_page("pages/draw.py").run()
    assert not bob.exception
    assert "could not be loaded" in text(bob) and "No model called 'secret'" in text(bob)


def test_each_user_has_their_own_drawings(shared_server):
    x28 = np.zeros((28, 28), np.float32)
    x28[5:20, 12:15] = 1
    PersonalSet(ws(ALICE).personal).add(x28, 1)
    alice = open_as(ALICE, "pages/my_digits.py")
    bob = open_as(BOB, "pages/my_digits.py")
    assert (
        "All (1)" in str(alice.get("button_group")[0].proto) if alice.get("button_group") else True
    )
    assert "No digits kept yet" in text(bob) and "No digits kept yet" not in text(alice)
    assert len(PersonalSet(ws(BOB).personal)) == 0
    assert ws(ALICE).personal != ws(BOB).personal


def test_knowing_a_runs_id_does_not_let_another_user_take_or_control_it(shared_server):
    manager = get_manager()
    job_id = manager.submit("train", Ticker(), owner=ws(ALICE).id, meta={"config": {}})
    bob = open_as(BOB, "pages/train.py", query={"job": job_id})
    assert not bob.exception
    assert "train_job" not in bob.session_state  # not reattached
    assert "job" not in bob.query_params
    assert all(b.disabled for b in bob.button if b.label in ("Stop", "Pause"))
    assert manager.view(job_id).active and manager.view(job_id).owner == ws(ALICE).id
    alice = open_as(ALICE, "pages/train.py", query={"job": job_id})
    assert alice.session_state["train_job"] == job_id
    [stop] = [b for b in alice.button if b.label == "Stop"]
    stop.click().run()
    assert manager.wait(job_id, 10).status == "stopped"


def test_a_run_started_by_a_user_belongs_to_their_workspace(shared_server):
    alice = open_as(ALICE, "pages/train.py")
    [start] = [b for b in alice.button if b.label == "Start"]
    start.click().run()
    job_id = alice.session_state["train_job"]
    assert get_manager().view(job_id).owner == ws(ALICE).id
    assert not get_manager().stop(job_id, ws(BOB).id)  # only the owner may stop it
    assert get_manager().stop(job_id, ws(ALICE).id)


def test_a_visitor_who_is_not_signed_in_sees_only_the_sign_in_prompt(shared_server):
    x28 = np.zeros((28, 28), np.float32)
    x28[5:20, 12:15] = 1
    PersonalSet(ws(ALICE).personal).add(x28, 1)
    for page in PAGES:
        at = open_as({"is_logged_in": False}, page)
        assert not at.exception
        assert "Sign in to get your own space" in text(at)
        assert [b.label for b in at.button] == ["Sign in"]
        assert not at.sidebar.selectbox  # no model picker, nothing of anyone's


def test_a_shared_server_without_sign_in_says_so_on_every_page(shared_server):
    for page in PAGES:
        at = open_as(None, page, auth=False)
        assert not at.exception
        assert "sign-in is not set up" in at.warning[0].value


def test_on_localhost_there_is_one_workspace_and_no_banner(shared_server, monkeypatch):
    monkeypatch.delenv("NNDIGITS_SHARED")
    at = open_as(None, auth=False)
    assert not at.exception
    assert not [w for w in at.warning if "sign-in" in str(w.value)]
    local = workspace.local()
    assert local.id == "local" and local.models == paths.weights_dir()
    assert local.personal == paths.personal_dir()


def test_workspace_ids_are_stable_and_distinct_per_identity():
    assert ws(ALICE).id == ws(dict(ALICE, email="changed@x.org")).id  # the subject decides
    assert ws(ALICE).id != ws(BOB).id
    assert ws(ALICE).id != workspace.for_user("https://other-idp", "alice-1").id
    assert ws(ALICE).id.startswith("u-") and "/" not in ws(ALICE).id


def test_a_user_cannot_save_over_a_shared_model_name(shared_server):
    net = init_network([784, 4, 10], "relu", np.random.default_rng(0))
    with pytest.raises(ValueError, match="shipped model"):
        ws(ALICE).save_model("Default", net)
    shutil.copy2(paths.weights_dir() / "default.npz", paths.weights_dir() / "teachers.npz")
    with pytest.raises(ValueError, match="'teachers' is a shared model"):
        ws(ALICE).save_model("Teachers", net)
    with pytest.raises(ValueError, match="not one of your models"):
        ws(ALICE).delete_model("teachers")
