"""The engine: a neural network written from scratch in NumPy, its data, training and files.

Nothing in this package imports streamlit; it runs from a terminal, from tests and from pages.
"""
