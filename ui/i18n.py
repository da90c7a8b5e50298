"""The app's languages: which one this session reads, and the text of every key in it.

Texts live in one catalog per language, locales/<lang>.json, grouped by page ("home.title",
"how.forward.title"); `t(key, **fmt)` looks a key up and fills its {placeholders}. The language
comes from ?lang= in the URL, else this session's choice, else the browser's language, and goes
back into the URL on every run, so a reload or a shared link opens in the same language.
Texts are str.format templates: maths goes in $...$, and a literal brace is doubled ($10^{{-5}}$).
tests/test_i18n.py keeps the catalogs in step (same keys, same placeholders).

How to translate a page (follow this for every page):
- Every text a user sees goes through t("<page>.<what>"), keys grouped by page ("inspect.*",
  "models.*"), with the same key in locales/en.json and locales/zh.json (glossary terms:
  ../shared/glossary-zh.md). Chart builders (ui/insight_charts.py) call t() too: outside a
  Streamlit run (a bare script, a unit test) t() speaks English.
- Sentences from core (errors, repair notes) cannot call t(): core never imports the UI. Core
  writes them as core.messages.Message(key, english, **params), a str holding the English (what
  the CLI prints) plus a key in the shared "errors.*" group; an exception carries its Message
  as its argument. A page shows them with say(e) (or say(text)), never str(e): say() translates
  a Message (and a Message among its params) and leaves any other text as it is.
"""

from __future__ import annotations

import json
import string
from functools import cache
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.messages import Message

LOCALES = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = {"en": "English", "zh": "中文"}  # code -> the language's own name
DEFAULT = "en"
LANG_PARAM = "lang"  # URL query parameter: ?lang=zh
LANG_KEY = "lang"  # session_state: this session's language
SWITCH_KEY = "lang_switch"  # the sidebar widget


def flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    """{"home": {"title": "..."}} -> {"home.title": "..."}; keys may also be dotted already."""
    out = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, full + "."))
        else:
            out[full] = str(value)
    return out


@cache
def catalog(lang: str) -> dict[str, str]:
    """Every text of one language, by dotted key (read once per process)."""
    with open(LOCALES / f"{lang}.json", encoding="utf-8") as f:
        return flatten(json.load(f))


def placeholders(text: str) -> set[str]:
    """The {names} a text fills in: "{n} units" -> {"n"}."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def translate(lang: str, key: str, /, **fmt) -> str:
    """The text of `key` in `lang` (English if that language lacks it), {placeholders} filled.

    A key missing everywhere shows as the key itself: a visible slip, never a traceback. Every
    text is formatted, placeholders or not, so doubled braces always read as one.
    """
    text = catalog(lang).get(key)
    if text is None:
        text = catalog(DEFAULT).get(key, key)
    return text.format(**fmt)


def browser_language(locale: str | None) -> str:
    """ "zh-CN", "zh-Hant-TW" -> "zh"; anything we do not speak -> English."""
    code = (locale or "").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT


def language() -> str:
    """This session's language code; also written back into the URL (?lang=).

    English outside a Streamlit run (a bare script or a test calling a chart builder)."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return DEFAULT
    state = st.session_state
    asked = st.query_params.get(LANG_PARAM)
    if asked in LANGUAGES:
        state[LANG_KEY] = asked
    elif state.get(LANG_KEY) not in LANGUAGES:
        state[LANG_KEY] = browser_language(_browser_locale())
    lang = state[LANG_KEY]
    if asked != lang:
        st.query_params[LANG_PARAM] = lang
    return lang


def _browser_locale() -> str | None:
    try:
        return st.context.locale
    except Exception:  # no browser behind this run (a bare script or a test harness)
        return None


def t(key: str, /, **fmt) -> str:
    """The text of `key` in this session's language, e.g. t("how.layer", l=2) -> "Layer 2"."""
    return translate(language(), key, **fmt)


def said(lang: str, text) -> str:
    """A sentence from core in `lang`: a Message, or an exception carrying one (a Message among
    its values is translated too); any other text or exception as it is."""
    if isinstance(text, BaseException):
        message = text.args[0] if len(text.args) == 1 else None
        if not isinstance(message, Message):
            return str(text)
        text = message
    if not isinstance(text, Message):
        return str(text)
    params = {k: said(lang, v) if isinstance(v, Message) else v for k, v in text.params.items()}
    return translate(lang, text.key, **params)


def say(text) -> str:
    """A sentence from core (a Message or an exception) in this session's language."""
    return said(language(), text)


def _switched() -> None:
    lang = st.session_state[SWITCH_KEY]
    if lang in LANGUAGES:
        st.session_state[LANG_KEY] = lang
        st.query_params[LANG_PARAM] = lang


def language_switch() -> None:
    """The language picker (call it inside the sidebar): English / 中文, kept in ?lang=."""
    lang = language()
    if st.session_state.get(SWITCH_KEY) != lang:
        st.session_state[SWITCH_KEY] = lang
    st.segmented_control(
        t("sidebar.language"),
        list(LANGUAGES),
        format_func=LANGUAGES.get,
        key=SWITCH_KEY,
        required=True,
        on_change=_switched,
    )
