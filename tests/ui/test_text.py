"""Escaping of user-supplied text for Markdown and Plotly labels (ui/text.py)."""

from __future__ import annotations

import re

import pytest

from ui.text import md_escape, plot_escape

HOSTILE = '<b id="inj">x</b><style>body{background:red}</style><img src=x onerror="alert(1)">'


@pytest.mark.parametrize("s", [HOSTILE, "*bold* _it_ `code` [link](http://x) $x^2$ :red[red] # head",
                               "&lt; &amp; \\* back\\slash", "plain name 42", "a|b|c ~~strike~~ !img"])
def test_md_escape_escapes_every_markdown_and_html_special(s):
    out = md_escape(s)
    # every ASCII punctuation character is preceded by a backslash: nothing is left to interpret
    assert not re.search(r"(?<!\\)[<>*_`\[\]$&#|~!]", re.sub(r"\\.", "", out))
    # removing the escapes gives the text back exactly (CommonMark shows escaped punctuation literally)
    assert re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", out) == s


def test_md_escape_keeps_letters_and_puts_text_on_one_line():
    assert md_escape("plain name 42") == "plain name 42"
    assert md_escape("<b>") == "\\<b\\>"
    assert md_escape("line one\nline two\r\n# three") == "line one line two \\# three"


def test_plot_escape_writes_plotly_markup_as_entities():
    assert plot_escape('<b id="inj">x</b> & co') == '&lt;b id="inj"&gt;x&lt;/b&gt; &amp; co'
    assert "<" not in plot_escape(HOSTILE) and ">" not in plot_escape(HOSTILE)
