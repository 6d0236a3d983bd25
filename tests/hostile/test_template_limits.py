"""A template that would run for ever stops at the render deadline, with one line naming it."""

from __future__ import annotations

import time

import pytest

from tmbuild.page import render
from tmbuild.page.render import Renderer, TemplateError


def test_a_loop_in_a_loop_that_prints_nothing_stops_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "MAX_RENDER_SECONDS", 0.5)
    (tmp_path / "index.html").write_text(
        "line one\n{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}\n"
    )
    started = time.monotonic()
    with pytest.raises(TemplateError) as raised:
        Renderer(tmp_path).render("index.html", {})
    assert time.monotonic() - started < 5
    assert str(raised.value).endswith(":2: takes over 0.5 s to render; fix the template")
