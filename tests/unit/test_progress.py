"""The CLI's progress bars: drawn on the stream they are given when asked, never when not."""

from __future__ import annotations

import io

from creditwatch.progress import progress_bar, progress_counts


def test_a_bar_shows_the_counts_it_is_given_on_its_stream():
    stream = io.StringIO()
    with progress_bar("days", show=True, stream=stream) as progress:
        progress(3, 10)
    assert "3/10" in stream.getvalue() and "days" in stream.getvalue()


def test_counts_add_up_per_kind():
    stream = io.StringIO()
    with progress_counts({"records": 5, "outcomes": None}, show=True, stream=stream) as progress:
        progress("records", 2)
        progress("records", 3)
    assert "5/5" in stream.getvalue()


def test_nothing_is_drawn_when_the_stream_is_not_a_terminal_and_no_bar_was_asked_for():
    stream = io.StringIO()
    with progress_bar("days", stream=stream) as progress:
        progress(3, 10)
    with progress_counts({"records": 5}, stream=stream) as counts:
        counts("records", 5)
    assert stream.getvalue() == ""
