"""The shape of the house: the engine stays free of any UI code."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_file_under_core_imports_streamlit():
    offenders = [
        p.name
        for p in (ROOT / "core").rglob("*.py")
        if {"streamlit", "streamlit_drawable_canvas"} & _imported_modules(p)
    ]
    assert offenders == []


def test_the_app_never_imports_a_machine_learning_framework():
    app_files = [
        ROOT / "app.py",
        *(ROOT / "core").rglob("*.py"),
        *(ROOT / "pages").rglob("*.py"),
        *(ROOT / "ui").rglob("*.py"),
    ]
    banned = {"torch", "tensorflow", "jax", "keras", "sklearn"}
    offenders = [
        str(p.relative_to(ROOT)) for p in app_files if p.exists() and banned & _imported_modules(p)
    ]
    assert offenders == []
