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
