"""Home: what this is, the article it grew from, the path through the app, and how good the
model in use is."""

import streamlit as st

from ui.article import ARTICLE_URL, CODE_URL
from ui.common import current_model, ensure_app_navigation, model_caption, model_problem
from ui.i18n import t

ensure_app_navigation()

# The path through the app: (where, icon, text key). Each step is a link and one sentence.
PATH = [
    (ARTICLE_URL, ":material/menu_book:", "home.path.read"),
    ("pages/train.py", ":material/model_training:", "home.path.train"),
    ("pages/draw.py", ":material/draw:", "home.path.draw"),
    ("pages/inspect.py", ":material/query_stats:", "home.path.inspect"),
    ("pages/my_digits.py", ":material/collections_bookmark:", "home.path.my_digits"),
    ("pages/how_it_works.py", ":material/function:", "home.path.how"),
]

st.title(t("home.title"))
st.markdown(t("home.intro"))
st.markdown(t("home.article", article=ARTICLE_URL, code=CODE_URL))

model = current_model()
left, right = st.columns([1, 2])
with left:
    if model is not None and model.test_acc is not None:
        st.metric(t("home.metric"), f"{model.test_acc:.2%}")
    elif model is not None:
        st.metric(t("home.model_in_use"), model.name)
with right:
    if model is not None:
        st.caption(t("home.model_caption", name=model.name, details=model_caption(model)))
        st.caption(t("home.accuracy_note"))
    elif model_problem():
        name, reason = model_problem()
        st.warning(t("home.model_problem", name=name, reason=reason))

st.subheader(t("home.path.title"))
for number, (target, icon, key) in enumerate(PATH, start=1):
    st.page_link(target, label=f"{number}. {t(key + '.link')}", icon=icon)
    st.caption(t(key + ".text"))
