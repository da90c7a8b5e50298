"""Sentences core writes for people, sayable in the reader's language.

core never imports the UI, so what it says is English: the CLI and the logs print that. Where a
page may show it (an error, a repair note), core makes it a Message: that same English str, plus
the catalog key and the values it fills in, from which ui.i18n.say() renders it in the reader's
language. An exception carries its Message as its only argument, so str(e) stays the English.
"""

from __future__ import annotations


class Message(str):
    """English text that also knows its catalog key and its {placeholders}' values.

    Message("errors.model.not_found", f"No model called {name!r}.", name=name): the English
    must be what locales/en.json's text for the key gives with these values (a test checks).
    A value may itself be a Message (a reason inside a sentence); it is translated too.
    """

    key: str
    params: dict

    def __new__(cls, key: str, english: str, /, **params) -> Message:
        self = super().__new__(cls, english)
        self.key = key
        self.params = params
        return self

    def __getnewargs_ex__(self):  # pickled into and out of worker processes
        return (self.key, str(self)), dict(self.params)


def message_tree(text):
    """A Message as JSON-safe data ({key, en, params}, nested), so a stored record can be said
    in the reader's language when it is read back; any other text as it is."""
    if not isinstance(text, Message):
        return text if text is None or isinstance(text, int | float) else str(text)
    params = {k: message_tree(v) for k, v in text.params.items()}
    return {"key": text.key, "en": str(text), "params": params}


def from_tree(data):
    """message_tree's inverse: the Message again (or the plain text)."""
    if isinstance(data, dict) and {"key", "en", "params"} <= set(data):
        params = {k: from_tree(v) for k, v in dict(data["params"]).items()}
        return Message(str(data["key"]), str(data["en"]), **params)
    return data
