"""The app's entry point: `streamlit run app.py`. Declares the pages and draws the shared sidebar.

Pages live in pages/ and stay thin; shared helpers are in ui/, the engine in core/.
"""

from pathlib import Path

# The icon is a file here, not an icon font fetched from a server: the app works offline.
ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")


def main() -> None:
    import streamlit as st

    from ui.common import keep_widget_state, render_sidebar, setup_app
    from ui.i18n import t

    st.set_page_config(page_title=t("common.app_name"), page_icon=ICON, layout="wide")
    setup_app()
    keep_widget_state()

    nav = st.navigation(
        [
            st.Page(
                "pages/home.py", title=t("app.page.home"), icon=":material/home:", default=True
            ),
            st.Page("pages/train.py", title=t("app.page.train"), icon=":material/model_training:"),
            st.Page(
                "pages/runs.py", title=t("app.page.runs"), icon=":material/stacked_line_chart:"
            ),
            st.Page("pages/draw.py", title=t("app.page.draw"), icon=":material/draw:"),
            st.Page(
                "pages/my_digits.py",
                title=t("app.page.my_digits"),
                icon=":material/collections_bookmark:",
            ),
            st.Page("pages/inspect.py", title=t("app.page.inspect"), icon=":material/query_stats:"),
            st.Page("pages/models.py", title=t("app.page.models"), icon=":material/inventory_2:"),
            st.Page(
                "pages/how_it_works.py",
                title=t("app.page.how_it_works"),
                icon=":material/function:",
            ),
        ]
    )
    render_sidebar(nav.url_path)
    nav.run()


# Streamlit runs this file as "__main__" and names it the main module. A training worker, started
# with spawn, runs the main module again as "__mp_main__" to set itself up: it trains, and needs
# none of the app (importing Streamlit and the pages cost each worker ~1 s and ~60 MB).
if __name__ == "__main__":
    main()
