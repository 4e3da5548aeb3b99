"""The history's charts mark each move of the champion (promotion, rollback) from the registry's alias history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from history_samples import drift_summary
from model_versions import register_layer_champion, variant
from test_history import drift_job, publisher, read_index  # noqa: F401 - the drift job's fixture

from creditwatch_analytics.history import entry_from_summary, newest_first, update_history
from creditwatch_analytics.history_moves import ChampionMoves, champion_moves, read_champion_moves
from creditwatch_analytics.history_page import render_index
from creditwatch_common.model_registry import AliasMove
from creditwatch_common.registry import ModelRegistry

# drift_summary(day) ends its window at 2026-10-01 + day + 1 days.
DAY0_END = datetime(2026, 10, 2, tzinfo=UTC)


def move(version: str | None, previous: str | None, at: datetime, reason: str = "why") -> AliasMove:
    return AliasMove(
        alias="champion", version=version, previous_version=previous, moved_by="ana", moved_at=at, reason=reason
    )


def chart_of(page: str, title: str) -> str:
    found = re.search(rf'data-chart="{re.escape(title)}.*?</figure>', page, re.S)
    assert found is not None, title
    return found.group(0)


def marks_in(svg: str) -> list[dict[str, str]]:
    """Each mark's data attributes, its line's x and its label and tooltip."""
    pattern = (
        r'<g class="move" data-kind="([^"]+)" data-version="([^"]*)" data-at="([^"]+)"><title>([^<]*)</title>'
        r'<line x1="([\d.]+)"[^>]*/><text[^>]*>([^<]*)</text></g>'
    )
    keys = ("kind", "version", "at", "tip", "x", "label")
    return [dict(zip(keys, m, strict=True)) for m in re.findall(pattern, svg)]


def point_xs(svg: str, series: str) -> list[float]:
    return [float(x) for x in re.findall(rf'<circle cx="([\d.]+)"[^>]*data-series="{series}"', svg)]


def two_runs_page(champion: ChampionMoves | None) -> str:
    """Drift runs whose windows end on day 0 and day 2, rendered with the champion's moves."""
    entries = newest_first(entry_from_summary(drift_summary(d)) for d in (0, 2))
    return render_index(entries, {}, generated_at="2026-10-05T00:00:00Z", champion=champion).decode()


def test_a_promotion_between_two_runs_is_a_mark_at_its_time_with_its_version_and_reason():
    promoted_at = DAY0_END + timedelta(days=1)  # halfway between the two runs
    moves = champion_moves(
        [
            move("aaaaaaaaaaaa", None, DAY0_END - timedelta(days=30), "the layer's model"),
            move("bbbbbbbbbbbb", "aaaaaaaaaaaa", promoted_at, "challenger beats it on matured outcomes"),
        ]
    )
    page = two_runs_page(ChampionMoves(moves))
    svg = chart_of(page, "Drift share")
    (mark,) = marks_in(svg)  # the first champion predates the axis: listed, not drawn
    assert (mark["kind"], mark["version"], mark["at"]) == ("promotion", "bbbbbbbbbbbb", "2026-10-03T00:00:00Z")
    assert mark["label"] == "promoted bbbbbbbbbbbb: challenger beats it o…"
    assert "challenger beats it on matured outcomes" in mark["tip"] and "from aaaaaaaaaaaa" in mark["tip"]
    first, second = point_xs(svg, "drift_share")
    assert first < float(mark["x"]) < second
    assert float(mark["x"]) == pytest.approx((first + second) / 2, abs=0.15)
    # Every chart drawn carries it, at its time on that chart's axis.
    drawn = re.findall(r'<figure class="chart" data-chart="([^"]+)"', page)
    assert drawn and all(len(marks_in(chart_of(page, t))) == 1 for t in drawn)
    # Both moves are listed, newest first, with who and why.
    listed = re.findall(r'<tr data-kind="([^"]+)" data-version="([^"]*)">', page)
    assert listed == [("promotion", "bbbbbbbbbbbb"), ("first", "aaaaaaaaaaaa")]


def test_a_history_without_champion_moves_has_no_mark():
    page = two_runs_page(ChampionMoves([]))
    assert 'class="move"' not in page and "no champion move in the model registry yet" in page
    # No registry named: nothing said of moves either.
    bare = two_runs_page(None)
    assert 'class="move"' not in bare and "Champion moves" not in bare


def test_a_move_back_to_the_version_the_last_promotion_replaced_is_a_rollback():
    at = DAY0_END
    moves = champion_moves(
        [
            move("b", "a", at + timedelta(days=1)),
            move("a", None, at),
            move("a", "b", at + timedelta(days=2), "approval fell"),
            move("c", "a", at + timedelta(days=3)),
        ]
    )
    assert [(m.kind, m.version) for m in moves] == [
        ("first", "a"),
        ("promotion", "b"),
        ("rollback", "a"),
        ("promotion", "c"),
    ]
    assert moves[2].label == "rolled back to a" and "approval fell" in moves[2].tip


def test_the_index_a_run_writes_marks_the_registrys_promotion_and_an_unreachable_registry_costs_only_the_marks(
    aws, s3, tmp_path: Path
):
    registry = ModelRegistry(s3, aws.ref("ModelRegistryBucket"))
    champion = register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.42)
    registry.register(card, folder)
    promoted_at = DAY0_END + timedelta(hours=30)
    registry.move_alias("champion", card.version, moved_by="ana", reason="better AUC beyond noise", now=promoted_at)
    pub = publisher(aws)
    for day in (0, 2):
        update_history(pub, drift_summary(day), link_seconds=3600, registry_bucket=aws.ref("ModelRegistryBucket"))
    marks = marks_in(chart_of(read_index(s3, aws), "Drift share"))
    assert [(m["kind"], m["version"]) for m in marks] == [("promotion", card.version)]
    assert f"from {champion}" in marks[0]["tip"] and "better AUC beyond noise" in marks[0]["tip"]
    # A registry that cannot be read: the page is written without marks, and says why.
    update_history(pub, drift_summary(3), link_seconds=3600, registry_bucket="no-such-registry-bucket")
    page = read_index(s3, aws)
    assert 'class="move"' not in page
    assert re.search(r'id="moves-unavailable">champion moves not shown: [^<]*no-such-registry-bucket', page)
    assert read_champion_moves(s3, "no-such-registry-bucket").moves == []


def test_the_drift_job_marks_the_champions_moves_on_the_index_it_rewrites(
    drift_job,  # noqa: F811
    prediction_log,
    model,
    s3,
    aws,
    tmp_path: Path,
):
    from test_drift import log_traffic

    from creditwatch_drift.models import DriftEvent

    registry = ModelRegistry(s3, aws.ref("ModelRegistryBucket"))
    champion = register_layer_champion(registry)
    folder, card = variant(tmp_path, 0.42)
    registry.register(card, folder)
    log_traffic(prediction_log, model, drift_job.reference, 120, scenario="stable", seed=2)
    start = datetime.now(UTC) - timedelta(hours=1)
    event = DriftEvent(start=start, end=start + timedelta(hours=2))
    registry.move_alias("champion", card.version, moved_by="ana", reason="promoted", now=event.end - timedelta(hours=1))
    drift_job.settings = drift_job.settings.model_copy(update={"model_registry_bucket": registry.bucket})
    summary = drift_job.run(event)
    assert summary.status == "ok" and summary.history_updated is True
    marks = marks_in(chart_of(read_index(s3, aws), "Drift share"))
    # The layer's model became the first champion a moment ago, within the axis too.
    assert [(m["kind"], m["version"]) for m in marks] == [("first", champion), ("promotion", card.version)]
