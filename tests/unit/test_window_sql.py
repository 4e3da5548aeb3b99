"""The window queries, written once: the Athena text is Trino, the DuckDB text gives pandas' figures."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot

from creditwatch_analytics import groups as groups_mod
from creditwatch_analytics.lake import sql
from creditwatch_analytics.lake.schema import SHADOW_COLUMNS
from creditwatch_analytics.sampling import sample_key, sample_mask
from creditwatch_common.ids import uuid7, uuid7_millis
from creditwatch_drift import fairness as fairness_mod
from creditwatch_drift import stability as stability_mod
from creditwatch_drift.stability import load_stability_bins

START = datetime(2026, 11, 2, 22, 30, tzinfo=UTC)
END = datetime(2026, 11, 3, 3, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec(model: Any) -> sql.CountSpec:
    """The drift job's own spec: the shipped frozen bins and the protected groups."""
    bins = load_stability_bins()
    assert bins is not None
    return sql.CountSpec(stability_mod.bin_specs(bins, model), groups_mod.group_specs((25, 60)))


def lake_rows(model: Any, n: int = 3000, seed: int = 1) -> pd.DataFrame:
    """Rows with the lake's columns: values on the bins' edges, unknown codes, missing values, unscored rows."""
    rng = np.random.default_rng(seed)
    bins = load_stability_bins()
    assert bins is not None
    t0 = int((START - timedelta(hours=2)).timestamp() * 1000)
    ms = np.sort(t0 + rng.integers(0, 9 * 3_600_000, n))
    ids = [uuid7(int(m)) for m in ms]
    frame: dict[str, Any] = {
        "prediction_id": ids,
        "ts": pd.to_datetime(ms, unit="ms", utc=True),
        "sample_key": [sample_key(i, sample_mask(0)) for i in ids],
        "model_version": rng.choice(["v1", "v2"], n),
    }
    frame["dt"] = frame["ts"].strftime("%Y-%m-%d")
    for f in model.schema.features:
        b = bins.features[f.name]
        if f.is_categorical:
            values = rng.choice([*f.codes, "A999"], n).astype(object)
        else:
            # A third of the values exactly on an edge: the right-closed bins must agree there.
            values = np.where(rng.random(n) < 0.33, rng.choice(b.edges, n), rng.normal(np.mean(b.edges), 10, n))
            if f.dtype == "int":
                values = np.round(values)
            values = values.astype(object)
        values[rng.random(n) < 0.05] = None
        frame[f.name] = values
    p = np.where(rng.random(n) < 0.2, rng.choice(bins.score.edges, n), rng.random(n)).astype(object)
    p[rng.random(n) < 0.1] = None  # rejected requests: not scored
    frame["probability_good_credit"] = p
    frame["decision"] = [None if x is None else ("approve" if x >= 0.5 else "refuse") for x in p]
    for name in SHADOW_COLUMNS:  # no challenger was set: the lake's shadow columns are null
        frame[name] = pd.Series([None] * n, dtype=object)
    # A few applications referred to a reviewer (by one rule or two).
    frame["referral"] = np.where(rng.random(n) < 0.08, rng.choice(["band", "audit,band"], n), None)
    out = pd.DataFrame(frame)
    for f in model.schema.features:
        if not f.is_categorical:
            out[f.name] = pd.to_numeric(out[f.name]).astype("float64" if f.dtype == "float" else "Int64")
    out["probability_good_credit"] = pd.to_numeric(out["probability_good_credit"]).astype("float64")
    return out


def queries(spec: sql.CountSpec, model: Any) -> list[str]:
    where = sql.window_filter(START, END, partitions=True)
    return [
        sql.versions_query(where),
        sql.counts_query(where, spec),
        sql.sample_query(where, model.schema.names, 500, 0),
        sql.sample_query(where, model.schema.names, 500, 7),
    ]


def test_the_athena_text_parses_as_trino_and_holds_no_duckdb_only_function(spec, model):
    for text in queries(spec, model):
        athena = sql.render(text, "trino")
        tree = sqlglot.parse_one(athena, read="trino")
        assert tree.find(sqlglot.exp.Select) is not None
        names = {f.sql_name().lower() for f in tree.find_all(sqlglot.exp.Func)}
        names |= {str(f.name).lower() for f in tree.find_all(sqlglot.exp.Anonymous)}
        for bad in sql.DUCKDB_ONLY:
            assert bad not in names and not re.search(rf"\b{bad}\s*\(", athena, re.I), (bad, athena[:200])
        # Athena prunes on the projected partitions: every window query names them.
        assert "dt BETWEEN '2026-11-02' AND '2026-11-03'" in athena
        assert "width_bucket" not in athena.lower()


def test_the_duckdb_counts_equal_pandas_on_the_same_rows(spec, model):
    rows = lake_rows(model)
    con = duckdb.connect()
    con.register("predictions", rows)
    for partitions in (True, False):
        where = sql.window_filter(START, END, partitions=partitions)
        got = sql.parse_counts(con.execute(sql.render(sql.counts_query(where, spec), "duckdb")).fetchall(), spec)
        in_window = rows[(rows.ts >= START) & (rows.ts < END) & rows.probability_good_credit.notna()]
        want = sql.counts_from_frame(in_window, spec)
        assert got.rows == want.rows == len(in_window) > 500
        assert got.referred == want.referred == in_window.referral.notna().sum() > 10
        assert got.bins == want.bins
        assert got.groups.keys() == want.groups.keys()
        for attribute, groups in want.groups.items():
            assert got.groups[attribute].keys() == groups.keys(), attribute
            for name, g in groups.items():
                mine = got.groups[attribute][name]
                assert (mine.rows, mine.approved) == (g.rows, g.approved), (attribute, name)
                assert mine.probability_sum == pytest.approx(g.probability_sum, rel=1e-12)
        # Values on the edges land in the right-closed bin, as FrozenBins.counts puts them.
        bins = load_stability_bins()
        assert bins is not None
        assert got.bins["credit_amount"] == list(bins.features["credit_amount"].counts(in_window["credit_amount"]))


def test_counts_without_bins_or_groups_still_count_the_window_and_its_referrals(model):
    rows = lake_rows(model, n=500)
    con = duckdb.connect()
    con.register("predictions", rows)
    where = sql.window_filter(START, END, partitions=False)
    empty = sql.CountSpec()
    got = sql.parse_counts(con.execute(sql.render(sql.counts_query(where, empty), "duckdb")).fetchall(), empty)
    in_window = rows[(rows.ts >= START) & (rows.ts < END) & rows.probability_good_credit.notna()]
    assert (got.rows, got.referred) == (len(in_window), in_window.referral.notna().sum())
    assert got.rows > 50 and got.referred > 0


def test_the_duckdb_counts_approve_on_the_latest_reviewers_decision_as_pandas_does_on_final_decisions(spec, model):
    rows = lake_rows(model, n=2000, seed=5)
    scored = rows[rows.probability_good_credit.notna() & rows.referral.notna()].reset_index(drop=True)
    flip = {"approve": "refuse", "refuse": "approve"}
    # Half the referred cases decided: a third against the model; a few corrected later (the latest counts).
    decided = scored.iloc[: len(scored) // 2]
    first = [flip[d] if i % 3 == 0 else d for i, d in enumerate(decided.decision)]
    corrected = decided.iloc[:5]
    events = pd.DataFrame(
        {
            "prediction_id": [*decided.prediction_id, *corrected.prediction_id],
            "decision": [*first, *(flip[d] for d in first[:5])],
            "decided_at": pd.to_datetime(["2026-11-03T05:00Z"] * len(decided) + ["2026-11-03T06:00Z"] * 5, utc=True),
        }
    )
    final = dict(zip(decided.prediction_id, first, strict=True)) | dict(
        zip(corrected.prediction_id, (flip[d] for d in first[:5]), strict=True)
    )
    con = duckdb.connect()
    con.register("predictions", rows)
    con.register("review_events", events)
    where = sql.window_filter(START, END, partitions=False)
    query = sql.counts_query(where, spec, sql.reviews_filter(START, partitions=False))
    got = sql.parse_counts(con.execute(sql.render(query, "duckdb")).fetchall(), spec)
    in_window = rows[(rows.ts >= START) & (rows.ts < END) & rows.probability_good_credit.notna()].copy()
    in_window["final_decision"] = in_window.prediction_id.map(final)
    want = sql.counts_from_frame(in_window, spec)
    reviewed = in_window.final_decision.notna()
    assert got.reviewed == want.reviewed == int(reviewed.sum()) > 20
    assert got.overridden == want.overridden == int((reviewed & (in_window.final_decision != in_window.decision)).sum())
    assert got.pending == want.pending == int(in_window.referral.notna().sum()) - int(reviewed.sum())
    assert got.bins == want.bins  # the decision's PSI stays the model's
    for attribute, groups in want.groups.items():
        for name, g in groups.items():
            assert (got.groups[attribute][name].rows, got.groups[attribute][name].approved) == (g.rows, g.approved)
    approved = np.where(reviewed, in_window.final_decision == "approve", in_window.decision == "approve")
    assert sum(g.approved for g in got.groups["sex"].values()) == int(
        approved[in_window.personal_status_and_sex.isin(list(groups_mod.SEX)).to_numpy()].sum()
    )
    # The Athena text prunes the review events' partitions too, and parses as Trino.
    athena = sql.counts_query(
        sql.window_filter(START, END, partitions=True), spec, sql.reviews_filter(START, partitions=True)
    )
    assert "dt >= '2026-11-02'" in athena and "max_by(decision, decided_at)" in athena
    sqlglot.parse_one(athena, read="trino")


def test_the_duckdb_sample_and_versions_equal_the_python_bottom_k(spec, model):
    rows = lake_rows(model, n=2000, seed=2)
    con = duckdb.connect()
    con.register("predictions", rows)
    where = sql.window_filter(START, END, partitions=True)
    in_window = rows[(rows.ts >= START) & (rows.ts < END) & rows.probability_good_credit.notna()]
    versions = dict(con.execute(sql.render(sql.versions_query(where), "duckdb")).fetchall())
    assert versions == in_window.model_version.value_counts().to_dict()
    for seed in (0, 7):
        mask = sample_mask(seed)
        want = sorted(in_window.prediction_id, key=lambda i: (sample_key(i, mask), i))[:100]
        got = con.execute(sql.render(sql.sample_query(where, model.schema.names, 100, seed), "duckdb")).fetchall()
        assert [r[0] for r in got] == want, seed


def test_counts_add_across_parts_of_a_window(spec, model):
    rows = lake_rows(model, n=1500, seed=3)
    rows = rows[rows.probability_good_credit.notna()]
    whole = sql.counts_from_frame(rows, spec)
    halves = sql.counts_from_frame(rows.iloc[:700], spec) + sql.counts_from_frame(rows.iloc[700:], spec)
    assert halves.rows == whole.rows and halves.bins == whole.bins
    for attribute, groups in whole.groups.items():
        for name, g in groups.items():
            h = halves.groups[attribute][name]
            assert (h.rows, h.approved) == (g.rows, g.approved)


def test_stability_and_fairness_from_counts_equal_todays_figures_from_the_rows(spec, model):
    from creditwatch_drift.service import load_reference

    reference = load_reference(model)
    bins = load_stability_bins()
    assert bins is not None
    counts = sql.counts_from_frame(reference, spec)
    approval = float((reference["decision"] == "approve").mean())
    assert stability_mod.stability(counts, bins, model, approval) == stability_mod.stability(
        reference, bins, model, approval
    )
    # Today's per-row path (fairlearn's figures, tested in test_fairness) and the counted one agree.
    for name, groups in groups_mod.protected_groups(reference, (25, 60)).items():
        rowwise = fairness_mod.parity(
            (reference["decision"] == "approve").to_numpy(),
            reference["probability_good_credit"].to_numpy(),
            groups.reset_index(drop=True),
            30,
            500,
            0,
        )
        assert fairness_mod.counted_parity(counts.groups[name], 30, 500, 0) == rowwise, name


def test_the_auditors_queries_in_operate_md_parse_as_trino_and_answer_in_duckdb(model):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "operate.md").read_text()
    section = text.split("## The lake: queries an auditor needs", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) == 6
    rows = lake_rows(model, n=400, seed=4)
    pid = "01a2027b-d680-7a3c-8d2e-5b7c9e1f4a60"
    # The lookups by id name the id's partition: the UTC day of its 48-bit millisecond prefix, which the
    # documented one-liner prints (the record is in that day's partition: the export keys hours by it).
    day = datetime.fromtimestamp(uuid7_millis(pid) / 1000, UTC).date().isoformat()
    one_liner = re.search(r"```bash\n(python3 -c .*?)\n# (\S+)\n```", section, re.S)
    assert one_liner is not None and one_liner.group(2) == day
    printed = subprocess.run(
        ["bash", "-c", one_liner.group(1)], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    assert printed == day
    for block in (blocks[0], blocks[4]):
        assert pid in block and re.search(rf"AND dt >?= '{day}'", block), block
    rows.loc[0, "prediction_id"] = pid
    rows.loc[0, "dt"] = day
    rows["ts"] = rows["ts"] - pd.Timedelta(days=31)  # in the documented October cohort
    for column, value in (("request_id", "r"), ("route", "/predict"), ("status", 200), ("risk_level", "low")):
        rows[column] = value
    outcomes = pd.DataFrame(
        {
            "prediction_id": [pid, pid, rows.prediction_id[1]],
            "outcome": ["good", "bad", "good"],
            "observed_at": pd.to_datetime(["2026-12-01", "2026-12-02", "2026-11-01"], utc=True),
            "recorded_at": pd.to_datetime(["2026-12-01", "2026-12-03", "2026-11-01"], utc=True),
            "correction": [False, True, False],
            "previous": [None, "good", None],
        }
    )
    outcomes["dt"] = outcomes["recorded_at"].dt.strftime("%Y-%m-%d")  # the day each was recorded
    con = duckdb.connect()
    con.register("predictions", rows)
    con.register("outcome_events", outcomes)
    # Two decisions on the first prediction's case (the correction, later, is its final one), one on the second's.
    flip = {"approve": "refuse", "refuse": "approve"}
    assert rows.decision[:2].notna().all()  # both reviewed predictions were scored (seed 4)
    first, second = rows.decision[0], rows.decision[1]
    reviews = pd.DataFrame(
        {
            "prediction_id": [pid, pid, rows.prediction_id[1]],
            "decision": [first, flip[first], second],
            "override": [False, True, False],
            "decided_at": pd.to_datetime(["2026-11-23", "2026-11-24", "2026-11-23"], utc=True),
        }
    )
    con.register("review_events", reviews)
    answers = []
    for block in blocks:
        sqlglot.parse_one(block, read="trino")  # Athena's dialect
        answers.append(con.execute(block).fetchall())
    assert len(answers[0]) == 1
    assert sum(r[4] for r in answers[1]) == rows.decision.notna().sum()
    # The cohort: the later of the two outcomes of one prediction counts, once.
    by_outcome = {(d, o): n for d, o, n, _ in answers[2]}
    assert sum(by_outcome.values()) == rows.decision.notna().sum()
    assert sum(n for (_, o), n in by_outcome.items() if o is not None) == int(rows.decision[:2].notna().sum())
    if pd.notna(rows.decision[0]):
        assert by_outcome.get((rows.decision[0], "bad"), 0) >= 1
    # Every label of one prediction, the correction last.
    assert [(o, c, prev) for _, o, _, c, prev in answers[4]] == [("good", False, None), ("bad", True, "good")]
    # Final decisions: the correction replaces the first decision; the second review agreed with the model.
    scored = rows[rows.decision.notna()]
    assert sum(r[1] for r in answers[5]) == len(scored)
    assert sum(r[2] for r in answers[5]) == 2 and sum(r[3] for r in answers[5]) == 1
    final = scored.decision.copy()
    final[0] = flip[first]
    approvals = sum(r[1] * r[4] for r in answers[5])
    assert round(approvals) == int((final == "approve").sum())


@pytest.mark.parametrize("seed", [0, 7], ids=["the stored key", "the stored key mixed with another seed"])
def test_the_sql_bottom_k_keeps_the_rows_the_python_one_keeps_when_keys_are_equal(seed: int) -> None:
    from creditwatch_analytics.sampling import bottom_k
    from creditwatch_common.records import ScoredRow

    # Ids in threes sharing their last 48 bits: equal keys, ordered by id in both rules.
    tails = [f"{np.random.default_rng(i).integers(0, 1 << 48):012x}" for i in range(400)]
    ids = [f"0190{j:04x}-0000-7000-8000-{tail}" for j in range(3) for tail in tails]
    mask0 = sample_mask(0)
    rows = pd.DataFrame(
        {
            "prediction_id": ids,
            "sample_key": [sample_key(i, mask0) for i in ids],
            "probability_good_credit": 0.5,
            "decision": "approve",
            "model_version": "v1",
            "ts": pd.Timestamp("2026-11-02", tz="UTC"),
            **dict.fromkeys(SHADOW_COLUMNS),
        }
    ).sample(frac=1.0, random_state=seed)
    con = duckdb.connect()
    con.register("predictions", rows)
    got = con.execute(sql.render(sql.sample_query("probability_good_credit IS NOT NULL", [], 302, seed), "duckdb"))
    python, _, _ = bottom_k([ScoredRow(i, {}, 0.5, "approve", "v1") for i in rows["prediction_id"]], 302, seed)
    assert [r[0] for r in got.fetchall()] == [r.prediction_id for r in python]
    # The cut at 302 splits a group of three equal keys: the id decided which stayed.
    assert len({sample_key(r.prediction_id, sample_mask(seed)) for r in python[-2:]}) == 1
