"""The CLI's progress bars: drawn on the stream they are given when asked, never when not."""

from __future__ import annotations

import io

from creditwatch.progress import from_log, progress_bar, progress_counts


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


def test_a_jobs_progress_lines_move_a_bar_with_their_step_and_counts_and_other_lines_pass_through():
    stream = io.StringIO()
    with from_log(echo=True, show=True, stream=stream) as on_log:
        on_log('{"level":"INFO","message":"started"}\n')
        on_log('{"message":"progress: figures","progress":{"step":"figures on 800 rows","done":1,"total":3}}\n')
        on_log('{"message":"a line that only says progress"}\n')
    drawn = stream.getvalue()
    assert "figures on 800 rows" in drawn and "1/3" in drawn and '"started"' in drawn


def test_without_a_terminal_the_log_is_echoed_as_is_and_no_bar_is_drawn():
    stream = io.StringIO()
    lines = ['{"message":"x"}\n', '{"progress":{"step":"reading","done":0,"total":3}}\n']
    with from_log(echo=True, stream=stream) as on_log:
        for line in lines:
            on_log(line)
    assert stream.getvalue() == "".join(lines)
