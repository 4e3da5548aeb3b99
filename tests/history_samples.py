"""Summaries that validate as the jobs' typed summaries (DriftSummary, QualitySummary), for the history tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

ATTRIBUTES = ("sex", "age", "foreign_worker")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_id(start: datetime, end: datetime, run_at: datetime, kind: str, n: int) -> str:
    stamp = f"{start:%Y%m%dT%H%MZ}_{end:%Y%m%dT%H%MZ}"
    run = f"run-{run_at:%Y%m%dT%H%M%SZ}-{n:06x}"
    return f"{stamp}.{run}" if kind == "drift" else f"{kind}.{stamp}.{run}"


GROUPS = {"sex": ("female", "male"), "age": ("under 25", "25 and over"), "foreign_worker": ("yes", "no")}


def _column(name: str, psi: float, band: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "num",
        "psi": psi,
        "band": band,
        "bins": ["low", "high"],
        "share_reference": [0.5, 0.5],
        "share_current": [0.5, 0.5],
    }


def _parity(ratio: float, low_group: str, high_group: str) -> dict[str, Any]:
    groups = [
        {"group": low_group, "count": 300, "approval_rate": 0.7 * ratio, "mean_probability": 0.6, "judged": True},
        {"group": high_group, "count": 600, "approval_rate": 0.7, "mean_probability": 0.7, "judged": True},
    ]
    return {
        "rows": 900,
        "groups": groups,
        "judged": True,
        "disparate_impact_ratio": ratio,
        "ratio_interval": [ratio - 0.08, min(1.0, ratio + 0.08)],
        "lowest_group": low_group,
        "highest_group": high_group,
    }


def _attribute(name: str, ratio: float) -> dict[str, Any]:
    low, high = GROUPS[name]
    below = ratio + 0.08 < 0.8
    return {
        "attribute": name,
        "current": _parity(ratio, low, high),
        "reference": _parity(0.8, low, high),
        "below_threshold": below,
        "alert": below,
    }


def drift_summary(
    day: int, *, start: datetime | None = None, drift: float | None = None, **extra: Any
) -> dict[str, Any]:
    """A drift summary (DriftSummary's JSON) for day `day` of a slow slide."""
    base = start or datetime(2026, 10, 1, tzinfo=UTC)
    end = base + timedelta(days=day + 1)
    run_at = end + timedelta(minutes=5)
    share = drift if drift is not None else min(0.9, 0.05 + 0.012 * day + 0.03 * math.sin(day))
    report_id = _window_id(end - timedelta(days=7), end, run_at, "drift", day)
    ratios = {"sex": 0.9 - 0.006 * day, "age": 0.62 + 0.05 * math.cos(day / 3), "foreign_worker": 0.95}
    prefix = f"drift/reports/{end:%Y/%m/%d}/{report_id.replace('.run', '/run')}"
    features = [f"feature_{i}" for i in range(19)]
    drifted = ["credit_amount", "duration_in_month"][: 2 if share >= 0.3 else 0]
    approval = 0.7 - 0.004 * day
    summary = {
        "status": "ok",
        "message": f"drift share {share:.2f}",
        "environment": "dev",
        "window_start": _stamp(end - timedelta(days=7)),
        "window_end": _stamp(end),
        "generated_at": _stamp(run_at),
        "written_at": _stamp(run_at + timedelta(minutes=3)),
        "model_version": "2026.11.1",
        "rows_read": 900,
        "rows_used": 900,
        "reference_rows": 1000,
        "min_rows": 100,
        "threshold": 0.3,
        "drift_share": round(share, 4),
        "dataset_drift": share >= 0.3,
        "drifted_features": drifted,
        "n_features": 19,
        "features": [
            {
                "name": name,
                "kind": "num",
                "test": "ks",
                "statistic": "p_value",
                "value": 0.001 if name in drifted else 0.5,
                "threshold": 0.05,
                "drifted": name in drifted,
            }
            for name in [*drifted, *features]
        ],
        "outputs": {
            "probability": None,
            "decision": None,
            "approval_share_current": approval,
            "approval_share_reference": 0.7,
            "mean_probability_current": 0.7,
            "mean_probability_reference": 0.7,
        },
        "attribution": {
            "ndcg": 0.99 - 0.003 * day,
            "threshold": 0.9,
            "drifted": 0.99 - 0.003 * day < 0.9,
            "rows": 900,
            "features": [],
            "first_reasons": [],
            "refusals_current": 270,
            "refusals_reference": 300,
        },
        "stability": {
            "floor": 0.0001,
            "bins_model_version": "2026.11.1",
            "score": _column("score", 0.02 + 0.008 * day, "stable" if day < 10 else "moderate"),
            "decision": _column("decision", 0.01, "stable"),
            "approval_rate_reference": 0.7,
            "approval_rate_current": approval,
            "features": [_column(name, 0.3 if name in drifted else 0.01, "stable") for name in drifted],
        },
        "fairness": {
            "threshold": 0.8,
            "min_group_size": 30,
            "age_cuts": [25],
            "confidence": 0.95,
            "interval_method": "Jeffreys draws",
            "attributes": [_attribute(a, r) for a, r in ratios.items()],
        },
        "estimated_quality": {
            "auc": {"value": 0.77 - 0.002 * day, "low": 0.72 - 0.002 * day, "high": 0.81 - 0.002 * day},
            "holds": True,
            "validation_auc": 0.78,
        },
        # Referred to reviewers, and of the cases they decided, the share against the model (creeping up).
        "referred_rows": (referred := 36 + day % 5),
        "referral_rate": round(referred / 900, 6),
        "reviewed_rows": (reviewed := referred - 4),
        "overridden_rows": (overridden := min(reviewed, 2 + day // 3)),
        "pending_rows": 4,
        "override_rate": round(overridden / reviewed, 6),
        "report_id": report_id,
        "report_html_key": f"{prefix}/report.html",
        "summary_key": f"{prefix}/summary.json",
    }
    summary.update(extra)
    return summary


def quality_summary(day: int, *, start: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A quality summary shaped per the quality contract, every 7th day."""
    base = start or datetime(2026, 10, 1, tzinfo=UTC)
    end = base + timedelta(days=day + 1) - timedelta(days=30)
    run_at = base + timedelta(days=day + 1, hours=1)
    report_id = _window_id(end - timedelta(days=7), end, run_at, "quality", day)
    auc = 0.76 - 0.004 * day
    prefix = f"quality/reports/{end:%Y/%m/%d}/{report_id[len('quality.') :].replace('.run', '/run')}"
    summary = {
        "kind": "quality",
        "run_id": report_id.rsplit(".", 1)[1],
        "report_id": report_id,
        "generated_at": _stamp(run_at),
        "written_at": _stamp(run_at + timedelta(minutes=2)),
        "environment": "dev",
        "model_version": "2026.11.1",
        "cohort": {"start": _stamp(end - timedelta(days=7)), "end": _stamp(end)},
        "rows": 700,
        "labelled_rows": 560,
        "label_coverage": 0.8,
        "verdict": "ok" if auc > 0.7 else "degraded",
        "message": f"AUC realized {auc:.3f}",
        "reasons": [] if auc > 0.7 else [f"AUC {auc:.2f} < validation 0.78 - 0.05"],
        "realized": {
            "auc": {"value": auc, "low": auc - 0.05, "high": auc + 0.04},
            "approval_rate": {"value": 0.68, "low": 0.64, "high": 0.72},
        },
        "estimated": {"auc": {"value": auc + 0.035, "low": auc - 0.005, "high": auc + 0.075}},
        "validation": {"auc": {"value": 0.78, "low": 0.74, "high": 0.82}},
        "calibration": [],
        "confusion": {"threshold": 0.5, "tp": 1, "fp": 1, "tn": 1, "fn": 1},
        "thresholds": {
            "min_labelled_rows": 200,
            "auc_drop": 0.05,
            "cost_rise": 0.1,
            "min_group_size": 30,
            "resamples": 200,
        },
        "fairness": {
            "sex": {
                "rows": 560,
                "groups": {},
                "judged": True,
                "equal_opportunity_ratio": 0.9,
                "ratio_interval": [0.8, 0.99],
                "lowest_group": "female",
                "highest_group": "male",
            }
        },
        "reviewed": {
            "rows": 700,
            "reviewed_rows": 30,
            "overridden_rows": 3 + day // 7,
            "approved_against_model": 2 + day // 7,
            "refused_against_model": 1,
        },
        "report_url": None,
        "report_html_key": f"{prefix}/report.html",
        "summary_key": f"{prefix}/summary.json",
    }
    summary.update(extra)
    return summary


def history(days: int = 30) -> list[dict[str, Any]]:
    """`days` daily drift summaries and a weekly quality one."""
    out = [drift_summary(d) for d in range(days)]
    out += [quality_summary(d) for d in range(0, days, 7)]
    return out
