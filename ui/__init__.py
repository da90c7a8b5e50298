"""The Streamlit side of the app: shared page helpers and chart builders."""
