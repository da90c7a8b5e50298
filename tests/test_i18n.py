"""The two languages: the catalogs stay in step, every key the code asks for exists, and Home and
How it works render in English and in Chinese, chosen by ?lang=, the browser or the switch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.test_app_pages import app_weights
from ui import i18n

__all__ = ["app_weights"]  # the fixture, used by name

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


# --- Inspect, My digits and Models in both languages ---------------------------------------------

MORE_PAGES = {
    # page: (title key, texts that must show in Chinese, the English they replace)
    "pages/inspect.py": ("inspect.title", ["检查模型", "测试集准确率"], ["Test accuracy"]),
    "pages/my_digits.py": ("my_digits.title", ["教它认识你的笔迹", "导出"], ["Export and import"]),
    "pages/models.py": ("models.title", ["上传模型", "下载"], ["Upload a model", "Download"]),
}


def everything_shown(at: AppTest) -> str:
    """Every text on the page, widget labels and help texts included."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error")
    kinds += ("success", "metric", "tab", "expander", "button", "selectbox", "slider")
    parts = []
    for kind in kinds:
        for e in at.get(kind):
            proto = getattr(e, "proto", None)
            for field in ("value", "label", "body", "help", "text"):
                value = getattr(proto, field, None) if proto is not None else None
                if isinstance(value, str) and value:
                    parts.append(value)
    return "\n".join(parts)


@pytest.fixture
def my_space(tmp_path, monkeypatch):
    """A temp data folder with a few kept drawings, so My digits and Inspect show everything."""
    from core import paths
    from core.personal import PersonalSet
    from core.store import workspace
    from tests.test_personal import drawing

    real_mnist = paths.mnist_cache_file()
    monkeypatch.setenv("NNDIGITS_DATA_DIR", str(tmp_path / "data"))
    paths.mnist_cache_file().parent.mkdir(parents=True, exist_ok=True)
    paths.mnist_cache_file().symlink_to(real_mnist)  # the real, shared MNIST; own drawings
    store = PersonalSet(workspace.local().personal)
    for k in range(3):
        x28, canvas = drawing(k)
        store.add(x28, k, canvas=canvas)
    return store


@pytest.mark.parametrize("page", list(MORE_PAGES))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_inspect_my_digits_and_models_render_in_both_languages(
    shipped_model, mnist, my_space, page, lang
):
    at = open_page(page, {"lang": lang})
    assert not at.exception and not at.error
    title_key, chinese, english = MORE_PAGES[page]
    assert at.title[0].value == i18n.translate(lang, title_key)
    text = everything_shown(at)
    for key in i18n.catalog("en"):
        assert key not in text.split(), f"raw key {key} shown"
    if lang == "zh":
        assert han(text) > 60
        for words in chinese:
            assert words in text, words
        for words in english:
            assert words not in text.split("\n"), words
    else:
        assert han(text) == 0
        for words in english:
            assert words in text, words


def test_the_inspect_charts_speak_the_readers_language(shipped_model, mnist, my_space):
    at = open_page("pages/inspect.py", {"lang": "zh"})
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    figures = "\n".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    assert "混淆矩阵" in figures and "每个数字的准确率" in figures and "第一层的感受野" in figures
    assert "Confusion matrix" not in figures and "Accuracy per digit" not in figures


def test_a_damaged_model_file_is_explained_in_chinese_on_the_models_page(my_space, weights_tmp):
    from core.model_store import save_model
    from core.network import init_network
    from core.train import preset

    net = init_network([784, 8, 10], "relu", np.random.default_rng(0))
    save_model("default", net, preset("quick", hidden=(8,)), {"test_acc": 0.5}, allow_default=True)
    (weights_tmp / "broken.npz").write_bytes(b"not a zip at all")
    at = open_page("pages/models.py", {"lang": "zh"})
    assert not at.exception
    text = everything_shown(at)
    assert "无法加载" in text and "已损坏或不是 NumPy .npz 文件" in text
    assert "is damaged or not a NumPy" not in text


# --- core's sentences: one English, a key, and a translation -------------------------------------


def core_message_calls():
    """(file, key, parameter names) of every Message core writes with a literal key."""
    import ast

    prefixes = {"Message": "", "_bad": "errors.model_file.", "_refused": "errors.import."}
    for path in sorted((ROOT / "core").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            prefix = prefixes.get(node.func.id)
            if prefix is None or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            yield path.name, prefix + node.args[0].value, {k.arg for k in node.keywords}


def test_every_sentence_core_writes_has_a_key_with_the_same_placeholders():
    calls = list(core_message_calls())
    assert len(calls) > 40  # model files, storage, imports, the personal set's repairs
    english = i18n.catalog("en")
    for file, key, params in calls:
        assert key in english, (file, key)
        assert i18n.placeholders(english[key]) == params, (file, key)


def core_errors():
    """Real refusals from core, each raised by the code that users meet."""
    import errno

    from core import model_store
    from core.fileio import explain_os_error
    from core.personal import read_archive
    from core.store import modelfile

    def catch(action):
        try:
            action()
        except (ValueError, FileExistsError) as e:
            return e
        raise AssertionError(f"{action} did not refuse")

    return [
        catch(lambda: model_store.check_name("no/slash")),
        catch(lambda: model_store.load_model("nosuchmodel")),
        catch(lambda: model_store.read_model_bytes(b"garbage", "up")),
        catch(lambda: modelfile.decode(b"x" * (modelfile.MAX_FILE_BYTES + 1), "big.npz", ())),
        catch(lambda: read_archive(b"garbage")),
        ValueError(explain_os_error(OSError(errno.ENOSPC, "No space"), "save it")),
    ]


def test_core_refusals_read_the_same_from_the_catalog_and_translate(weights_tmp):
    from core.messages import Message

    errors = core_errors()
    for e in errors:
        assert isinstance(e.args[0], Message), e
        # the English the CLI prints is exactly the catalog's English
        assert i18n.said("en", e) == str(e)
        chinese = i18n.said("zh", e)
        assert han(chinese) >= 4 and chinese != str(e), chinese
    assert "磁盘已满" in i18n.said("zh", errors[-1])  # a reason inside a sentence is translated
    assert i18n.said("zh", ValueError("plain")) == "plain"  # anything else stays as it is


def test_a_message_survives_the_trip_to_a_worker_process_and_back():
    import pickle

    from core.messages import Message

    inner = Message("errors.os.full", "the disk is full")
    m = Message("errors.os.could_not", "x", doing="save it", reason=inner, where="")
    back = pickle.loads(pickle.dumps(ValueError(m))).args[0]
    assert back == "x" and back.key == m.key and back.params["reason"].key == "errors.os.full"


# --- Draw, the reader and the sidebar in both languages ------------------------------------------

DRAW_WORDS = {  # words each language must show on the Draw page, and the other must not
    "en": ["Draw a digit", "Pen width", "Prediction", "See inside the network", "Model in use"],
    "zh": ["画一个数字", "笔画粗细", "识别结果", "看看网络内部", "当前模型"],
}


def drawn(lang: str, strokes) -> AppTest:
    """The Draw page in `lang` after the canvas sent a drawing (white boxes on black)."""
    from tests.test_app_pages import blank_canvas, canvas_state

    at = open_page("pages/draw.py", {"lang": lang})
    img = blank_canvas()
    for rows, cols in strokes:
        img[rows, cols, :3] = 255
    at.session_state["canvas_0"] = canvas_state(img)
    at.run()
    assert not at.exception and not at.error
    return at


def sidebar_text(at: AppTest) -> str:
    parts = [str(e.value) for e in at.sidebar.get("caption")]
    parts += [f"{e.label} {e.help}" for e in at.sidebar.get("selectbox")]
    return "\n".join(parts)


ONE = [(slice(40, 240), slice(130, 150))]  # a clean 1
TWO_ONES = [(slice(60, 220), slice(40, 60)), (slice(60, 220), slice(200, 220))]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_draw_page_reads_a_digit_in_both_languages(app_weights, lang):
    at = drawn(lang, ONE)
    assert at.metric[0].value == "1" and not at.warning
    assert at.metric[0].label == i18n.translate(lang, "reading.prediction")
    text = everything_shown(at) + "\n" + sidebar_text(at)
    for key in i18n.catalog("en"):
        assert key not in text.split(), f"raw key {key} shown"
    other = "en" if lang == "zh" else "zh"
    for words in DRAW_WORDS[lang]:
        assert words in text, words
    for words in DRAW_WORDS[other]:
        assert words not in text, words
    before, after = i18n.catalog(lang)["reading.sure"].replace("{model}", "default").split("{p}")
    assert any(c.value.startswith(before) and c.value.endswith(after) for c in at.caption)
    tabs = [tab.label for tab in at.tabs]
    assert tabs[:4] == [i18n.translate(lang, f"insights.tab.{k}") for k in ui_tabs()]
    if lang == "zh":
        assert han(text) > 150
        assert "Reading with" not in text and "sure, according to" not in text
    else:
        assert han(text) == 0


def ui_tabs():
    from ui.insights import INSIGHT_TABS

    return INSIGHT_TABS


def test_the_reader_refuses_two_digits_and_says_why_in_chinese(app_weights):
    at = drawn("zh", TWO_ONES)
    [metric] = at.metric
    assert metric.label == "识别结果" and metric.value == "?"
    warnings = "\n".join(w.value for w in at.warning)
    assert "这看起来不止一个数字：请一次只画一个。" in warnings
    assert "more than one digit" not in warnings
    [guesses] = [c.value for c in at.caption if c.value.startswith("最可能的三个猜测")]
    assert guesses.count("%") == 3


def test_the_unsure_reason_names_both_digits_with_their_article_in_english():
    from core import reading
    from ui.reading import reason_text

    probs = np.zeros(10)
    probs[8], probs[3] = 0.5, 0.4
    r = reading.Reading(
        digit=None,
        reason=reading.UNSURE,
        probs=probs,
        best=8,
        runner_up=3,
        size=0.8,
        ink_level=1.0,
        parts=1,
        digit_likeness=0.9,
    )
    assert reason_text(r) == (
        "Not sure: it could be an 8 (50%) or a 3 (40%). Draw it more clearly to tell them apart."
    )
    assert i18n.translate("zh", "reading.unsure", best=8, p="50%", runner_up=3, q="40%") == (
        "不确定：可能是 8（50%），也可能是 3（40%）。请画得更清楚些，好把它们区分开。"
    )


def test_the_sidebar_speaks_chinese_model_picker_caption_and_help(app_weights):
    at = open_page(None, {"lang": "zh"})
    text = sidebar_text(at)
    assert "当前模型" in text and "由哪个网络识别你的数字" in text
    assert "在 10,000 个 MNIST 测试数字上准确率" in text
    assert "Model in use" not in text and "on the 10,000 MNIST test digits" not in text


def test_a_refused_canvas_is_explained_in_chinese():
    from core.preprocess import canvas_from_png

    with pytest.raises(ValueError) as refused:
        canvas_from_png(b"not a png at all")
    assert str(refused.value).startswith("The drawing is not a readable image")
    assert i18n.said("zh", refused.value).startswith("这幅画不是可读取的图像")


# --- Train and Runs, the doctor, and what core says about training -------------------------------

TRAIN, RUNS = "pages/train.py", "pages/runs.py"
TRAIN_RUNS = {
    # page: (title key, texts that must show in Chinese, the English they replace)
    TRAIN: ("train.title", ["从预设开始", "自定义设置", "开始"], ["Start from a preset", "Start"]),
    RUNS: ("runs.title", ["要比较的训练", "点击列标题即可按该列排序"], ["Runs to compare"]),
}


def all_labels(at: AppTest) -> str:
    """everything_shown, and the labels and help texts of the other widgets."""
    parts = [everything_shown(at)]
    for kind in ("radio", "multiselect", "text_input", "number_input", "checkbox"):
        for e in at.get(kind):
            parts += [e.proto.label, getattr(e.proto, "help", "")]
    return "\n".join(parts)


def no_raw_keys(text: str) -> None:
    shown = set(re.split(r"[\s:：,，()（）*]+", text))
    for key in i18n.catalog("en"):
        assert key not in shown, f"raw key {key} shown"


@pytest.mark.parametrize("page", list(TRAIN_RUNS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_train_and_runs_render_in_both_languages(shipped_model, runs_tmp, page, lang):
    from tests.test_runs_pages import stored_run

    stored_run(runs_tmp, "slow", 1.0, lr=1e-3)
    stored_run(runs_tmp, "fast", 2.0, lr=3e-3)
    at = open_page(page, {"lang": lang})
    if page == RUNS:
        at.multiselect(key="runs_compare").set_value(["slow", "fast"]).run()
    assert not at.exception and not at.error
    title_key, chinese, english = TRAIN_RUNS[page]
    assert at.title[0].value == i18n.translate(lang, title_key)
    text = all_labels(at)
    no_raw_keys(text)
    if page == RUNS:
        columns = list(at.dataframe[0].value.columns)
        assert columns[0] == i18n.translate(lang, "runs.col.started")
    if lang == "zh":
        assert han(text) > 60
        for words in chinese:
            assert words in text, words
        for words in english:
            assert words not in text.split("\n"), words
    else:
        assert han(text) == 0
        for words in english:
            assert words in text, words


@pytest.mark.mnist
def test_a_finished_and_a_diverged_run_read_in_chinese_on_train_and_runs(
    shipped_model, mnist, runs_tmp
):
    from core import jobs
    from core.runs import history
    from tests.test_app_pages import set_tiny_setup, wait_for_job

    at = open_page(TRAIN, {"lang": "zh"})
    set_tiny_setup(at)
    [start] = [b for b in at.button if b.label == "开始"]
    start.click().run()
    assert wait_for_job(at).status == jobs.DONE
    at.run()
    assert not at.exception
    text = everything_shown(at)
    no_raw_keys(text)
    assert "完成：训练" in text and "保存这个模型" in text
    assert "of the 10,000 MNIST test digits" not in text and "Save this model" not in text

    at.number_input(key="cfg_lr").set_value(10.0).run()  # adam at 10: it diverges
    [start] = [b for b in at.button if b.label == "开始"]
    start.click().run()
    assert wait_for_job(at).status == jobs.DIVERGED
    at.run()
    text = everything_shown(at)
    no_raw_keys(text)
    assert "学习率过高" in text and "训练发散了" in text
    assert "Learning rate too high" not in text and "overshoots" not in text
    [apply] = [b for b in at.button if b.label.startswith("应用到设置")]
    assert apply.label.endswith("学习率 0.01")
    apply.click().run()
    at.run()
    assert at.number_input(key="cfg_lr").value == 0.01

    at.switch_page(RUNS).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["结果"]) == {"完成", "发散"}
    assert "学习率过高" in " ".join(table["诊断"])
    diverged = [r for r in history.list_runs(runs_tmp)[0] if r.status == "diverged"]
    # its reason is kept with its key, so the Runs page says it in the reader's language
    from core.messages import from_tree

    reason = from_tree(diverged[0].reason_said)
    assert i18n.said("en", reason) == diverged[0].reason
    assert i18n.said("zh", reason).startswith("训练发散了：第")
    assert diverged[0].diagnoses[0]["said"]["title"]["key"] == "doctor.lr_too_high.title"


def findings():
    """A finding of every kind the doctor has, from made-up but plausible numbers."""
    from core.runs import doctor
    from core.train import preset

    config = preset("quick").to_dict()
    steps = [{"step": i, "loss": 2.3, "smooth_loss": 2.3} for i in range(0, 60)]
    climbing = [{"step": i, "loss": 2.3 * 2**i, "smooth_loss": 2.3} for i in range(6)]
    epochs = [
        {"epoch": e, "train_loss": 1 / e, "val_loss": 0.3 + 0.1 * e, "train_acc": 0.9 + e / 100}
        | {"val_acc": 0.9}
        for e in range(1, 8)
    ]
    flat = [
        {"epoch": e, "train_loss": 0.9, "val_loss": 0.9, "train_acc": 0.7, "val_acc": 0.7}
        for e in range(1, 6)
    ]
    zigzag = [{"step": i, "loss": 1.0 + 0.3 * (i % 2), "smooth_loss": 1.0} for i in range(40)]
    found = [
        doctor.explosion(climbing, config),
        doctor.explosion([{"step": 1, "loss": float("nan")}], config),
        doctor.explosion([], config, diverged=True),
        doctor.oscillation(zigzag, config | {"batch_size": 0, "optimizer": "sgd", "lr": 0.5}),
        doctor.plateau(steps, config | {"lr": 1e-5}),
        doctor.plateau(steps, config | {"activation": "sigmoid"}),
        doctor.overfitting(epochs, config | {"train_size": 500}),
        doctor.overfitting(epochs, config | {"l2": 1e-4, "augment": "affine"}),
        doctor.underfitting(flat, config | {"hidden": []}),
        doctor.underfitting(flat, config | {"hidden": [8]}),
        doctor.dead_relus(doctor.UnitActivity("relu", 100, 60, 0, 5000), config),
        doctor.saturated_units(doctor.UnitActivity("tanh", 100, 0, 60, 5000), config),
        doctor.slow_setup(3600.0, config | {"epochs": 20}),
        doctor.slow_setup(3600.0, config | {"epochs": 1}),
    ]
    assert all(d is not None for d in found), [d is None for d in found]
    return found


def test_every_doctor_finding_reads_the_same_in_english_and_is_translated():
    for d in findings():
        for part in (d.title, d.detail, d.advice):
            assert i18n.said("en", part) == str(part), part
            chinese = i18n.said("zh", part)
            assert han(chinese) >= 2 and chinese != str(part), chinese
            assert "{" not in chinese, chinese
    nan = findings()[1]
    assert i18n.said("zh", nan.detail).startswith("损失变成了 NaN（权重溢出）：学习率为")


def test_a_bad_training_setup_is_explained_in_chinese_problem_by_problem():
    from core.train import TrainConfig

    with pytest.raises(ValueError) as caught:
        TrainConfig(lr=-1.0, epochs=0, momentum=1.5)
    english = str(caught.value)
    assert english.startswith("Invalid training setup: learning rate must be")
    assert i18n.said("en", caught.value) == english
    chinese = i18n.said("zh", caught.value)
    assert chinese.startswith("训练设置无效：学习率必须大于 0")
    assert "动量必须在 [0, 1) 之内" in chinese and "轮数必须在 1 到 1000 之间" in chinese
    assert "must be" not in chinese


def test_a_bad_training_setup_shows_in_chinese_on_the_train_page(shipped_model):
    at = open_page(TRAIN, {"lang": "zh"})
    at.number_input(key="cfg_epochs").set_value(0).run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    assert "训练设置无效：轮数必须在 1 到 1000 之间" in errors, errors
    at.text_input(key="cfg_hidden").set_value("abc").run()
    errors = "\n".join(e.value for e in at.error)
    assert "隐藏层是用逗号分隔的整数" in errors and "Hidden layers" not in errors


def test_what_the_jobs_and_the_budget_say_is_translated():
    from core.jobs import JobRefused
    from core.runs.estimate import check_budget, estimate
    from core.runs.local import exit_reason
    from core.train import preset

    config = preset("best", batch_size=0)
    with pytest.raises(JobRefused) as caught:
        check_budget(config, budget=1)
    for said in (caught.value, exit_reason(-9), exit_reason(3), estimate(config).describe()):
        assert i18n.said("en", said) == str(said if isinstance(said, str) else said.args[0])
        assert han(i18n.said("zh", said)) >= 2, i18n.said("zh", said)
    chinese = i18n.said("zh", caught.value)
    assert "内存" in chinese and "把批量大小设为 128，或" in chinese
    assert i18n.said("zh", exit_reason(-9)) == "训练进程意外结束，退出码 -9（SIGKILL）"


def test_the_training_charts_speak_the_readers_language(monkeypatch):
    from ui import charts

    steps = [{"step": i, "loss": 2.3 / i, "smooth_loss": 2.3 / i} for i in range(1, 20)]
    epochs = [{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6, "train_acc": 0.8, "val_acc": 0.7}]

    def shown() -> str:
        figures = [
            charts.loss_per_step_figure(steps),
            charts.loss_per_step_figure([], full_batch=True),
            charts.loss_per_epoch_figure(epochs),
            charts.accuracy_per_epoch_figure(epochs, full_batch=True),
            charts.probabilities_figure([0.1] * 10),
        ]
        # Through Plotly's own encoder (series are arrays), then as readable text.
        return "\n".join(json.dumps(json.loads(f.to_json()), ensure_ascii=False) for f in figures)

    english = shown()
    assert "Loss per step" in english and "batch loss" in english
    monkeypatch.setattr(i18n, "language", lambda: "zh")
    chinese = shown()
    for words in (
        "每一步的损失",
        "批量损失",
        "平滑后",
        "交叉熵（对数刻度）",
        "几次迭代之后会出现第一批点",
    ):
        assert words in chinese, words
    for words in ("每一轮的损失", "准确率：训练集与验证集", "验证集", "数字 %{x}"):
        assert words in chinese, words
    assert "Loss per step" not in chinese and "batch loss" not in chinese


CHOICES = {  # the Train page's selectboxes: (session key, the engine's options)
    "activation": ("cfg_activation", "core.network", "ACTIVATIONS"),
    "init": ("cfg_init", "core.network", "INITS"),
    "optimizer": ("cfg_optimizer", "core.optim", "OPTIMIZERS"),
    "schedule": ("cfg_schedule", "core.optim", "SCHEDULES"),
    "augment": ("cfg_augment", "core.augment", "AUGMENTS"),
}


@pytest.mark.parametrize("field", CHOICES)
def test_every_choice_of_the_custom_setup_reads_in_both_languages(field):
    """Each option of a Train selectbox has a label in each language; the Chinese one keeps the
    engine's name first, as the help texts use it, so the two read together."""
    import importlib

    _, module, name = CHOICES[field]
    for value in getattr(importlib.import_module(module), name):
        key = f"train.option.{field}.{value}"
        english, chinese = i18n.translate("en", key), i18n.translate("zh", key)
        assert key not in (english, chinese)
        assert english.lower() == value
        assert chinese.lower().replace(" ", "_").startswith(value)


def test_the_train_page_shows_its_choices_in_chinese(shipped_model, runs_tmp):
    at = open_page(TRAIN, {"lang": "zh"})
    assert not at.exception
    optimizer = at.selectbox(key="cfg_optimizer")
    assert "sgd（随机梯度下降）" in optimizer.options
    assert optimizer.value == "adam"  # the value stays the engine's name
    augment = at.selectbox(key="cfg_augment")
    assert "elastic（弹性形变）" in augment.options
    epochs_help = next(n.help for n in at.number_input if n.key == "cfg_epochs")
    from core.train import PRESETS

    assert f"quick 需要 {PRESETS['quick'].epochs} 轮" in epochs_help
