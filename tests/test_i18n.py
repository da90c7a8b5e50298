"""The two languages: the catalogs stay in step, every key the code asks for exists, and Home and
How it works render in English and in Chinese, chosen by ?lang=, the browser or the switch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui import i18n

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
TIMEOUT = 60
PAGES = [None, "pages/how_it_works.py"]  # None: Home


def catalogs() -> dict[str, dict[str, str]]:
    return {lang: i18n.catalog(lang) for lang in i18n.LANGUAGES}


# --- the catalogs --------------------------------------------------------------------------------


def test_every_language_has_a_catalog_with_the_same_keys():
    cats = catalogs()
    english = set(cats["en"])
    assert len(english) > 50
    for lang, cat in cats.items():
        assert set(cat) - english == set(), f"{lang} has keys English lacks"
        assert english - set(cat) == set(), f"{lang} lacks keys English has"


def test_every_text_fills_the_same_placeholders_in_every_language():
    cats = catalogs()
    for key, text in cats["en"].items():
        for lang, cat in cats.items():
            assert i18n.placeholders(cat[key]) == i18n.placeholders(text), (lang, key)


def test_placeholders_are_plain_names_so_no_latex_brace_hides_in_a_text():
    for lang, cat in catalogs().items():
        for key, text in cat.items():
            for name in i18n.placeholders(text):
                assert name.isidentifier(), f"{lang} {key}: {{{name}}}"


def test_no_text_is_left_empty_or_untranslated_by_accident():
    cats = catalogs()
    for key, text in cats["zh"].items():
        assert text.strip(), key
        # Chinese texts carry Chinese characters, except names and maths kept as they are.
        if len(text) > 20:
            assert re.search(r"[\u4e00-\u9fff]", text), key


def keys_used_in_code() -> set[str]:
    """Every literal key passed to t(...) in the app's code."""
    found = set()
    for path in [ROOT / "app.py", *ROOT.glob("pages/*.py"), *ROOT.glob("ui/*.py")]:
        found |= set(re.findall(r"\bt\(\s*\"([a-z0-9_.]+)\"", path.read_text(encoding="utf-8")))
    return found


def test_every_key_the_code_asks_for_exists():
    used = keys_used_in_code()
    assert "how.title" in used and "home.title" in used
    missing = used - set(i18n.catalog("en"))
    assert not missing


def test_a_missing_key_shows_itself_instead_of_a_traceback():
    assert i18n.translate("zh", "no.such.key") == "no.such.key"
    assert i18n.translate("zh", "how.layer", l=2) == "第 2 层"
    assert i18n.translate("en", "how.layer", l=2) == "Layer 2"


@pytest.mark.parametrize(
    "locale, lang",
    [("zh-CN", "zh"), ("zh_TW", "zh"), ("zh-Hant-HK", "zh"), ("en-GB", "en"), ("fr-FR", "en")],
)
def test_the_browser_language_picks_chinese_or_falls_back_to_english(locale, lang):
    assert i18n.browser_language(locale) == lang
    assert i18n.browser_language(None) == "en"


# --- the pages in both languages -----------------------------------------------------------------


def open_page(page=None, query=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def page_text(at: AppTest) -> str:
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "latex")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def lang_param(at: AppTest) -> str:
    """?lang= as the app left it (AppTest keeps a value it was given as a string, one the
    app wrote as a list)."""
    value = at.query_params["lang"]
    return value if isinstance(value, str) else value[-1]


def han(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_home_and_how_it_works_render_in_both_languages(shipped_model, page, lang):
    at = open_page(page, {"lang": lang})
    assert not at.exception and not at.error
    text = page_text(at)
    title = at.title[0].value
    assert title == i18n.translate(lang, "home.title" if page is None else "how.title")
    for key in i18n.catalog("en"):
        assert key not in text.split(), f"raw key {key} shown"
    if lang == "zh":
        assert han(text) > 100  # the page reads in Chinese, not just its title
    else:
        assert han(text) < 40  # only the article's Chinese title, named on purpose
    assert lang_param(at) == lang


def test_the_article_is_named_in_both_languages_and_linked_on_home_and_how_it_works(
    shipped_model,
):
    for page in PAGES:
        text = page_text(open_page(page))
        assert "Can you code a neural network using only high school mathematics?" in text
        assert "《你能只用高中数学编写一个神经网络吗？》" in text
        assert "https://towardsdatascience.com/can-you-code-a-neural-network" in text
        assert "https://github.com/Prashantmdgl9/NN_scratch" in text


def test_the_browser_language_is_the_default_and_goes_into_the_url(shipped_model, monkeypatch):
    monkeypatch.setattr(i18n, "_browser_locale", lambda: "zh-CN")
    at = open_page()
    assert at.title[0].value == i18n.translate("zh", "home.title")
    assert lang_param(at) == "zh"


def test_lang_in_the_url_wins_over_the_browser(shipped_model, monkeypatch):
    monkeypatch.setattr(i18n, "_browser_locale", lambda: "zh-CN")
    at = open_page(query={"lang": "en"})
    assert at.title[0].value == "Digits from scratch"


def test_the_sidebar_switch_changes_the_language_and_the_url(shipped_model):
    at = open_page(query={"lang": "en"})
    switch = at.sidebar.segmented_control(key=i18n.SWITCH_KEY)
    assert switch.value == "en"
    switch.set_value("zh").run()
    assert not at.exception
    assert at.title[0].value == i18n.translate("zh", "home.title")
    assert lang_param(at) == "zh"
    # the page links follow: the navigation shows the Chinese page titles
    at.switch_page("pages/how_it_works.py").run()
    assert at.title[0].value == i18n.translate("zh", "how.title")


def test_an_unknown_language_in_the_url_falls_back_without_an_error(shipped_model):
    at = open_page(query={"lang": "xx"})
    assert not at.exception
    assert at.title[0].value == "Digits from scratch"
    assert lang_param(at) == "en"


def test_the_chinese_readme_sits_beside_the_english_one_with_the_same_quick_start():
    english = (ROOT / "README.md").read_text(encoding="utf-8")
    chinese = (ROOT / "README.zh.md").read_text(encoding="utf-8")
    assert "(README.zh.md)" in english and "(README.md)" in chinese
    for command in ("make run", "make test", "--preset seed", "?lang=zh"):
        assert command in chinese, command
    assert "《你能只用高中数学编写一个神经网络吗？》" in chinese
    assert "https://github.com/Prashantmdgl9/NN_scratch" in chinese


def test_every_text_formats_and_its_maths_keeps_single_braces():
    for lang, cat in catalogs().items():
        for key, text in cat.items():
            out = i18n.translate(lang, key, **{name: "7" for name in i18n.placeholders(text)})
            assert "{{" not in out and "}}" not in out, (lang, key)
    assert i18n.translate("en", "how.check.mostly").count("$10^{-4}$") == 1
    assert "$W_{3}$" in i18n.translate("en", "how.step.entry", layer=3, unit=1, input=2)
