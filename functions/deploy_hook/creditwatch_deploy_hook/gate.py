"""The model gate: a new version's answers to the frozen replay set, held against a baseline's.

Plain logic, no AWS: the PreTraffic hook and `creditwatch model gate` both call `judge`.
- contract: one answer per application, each a well-formed answer of the expected model version;
- model unchanged: every decision and probability identical to the baseline's (a code change must
  not change a decision), probabilities at the artifacts' precision (12 significant digits);
- model changed: score PSI, approval-rate change and swap rate within what the model's comparison
  evidence approved, plus a stated tolerance for the replay set's size (`Tolerance`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from creditwatch_common.model_registry import ComparisonEvidence
from creditwatch_common.replay import ReplayAnswer, canonical_probability

RISK_LEVELS = frozenset({"LOW", "MEDIUM", "HIGH"})
# An empty bin's share, so that ln(actual / expected) stays finite (as the drift job's PSI).
PSI_FLOOR = 1e-4
PSI_BINS = 10


@dataclass(frozen=True)
class Tolerance:
    """What the replay set may exceed the evidence by: its 300 applications are a sample, not the traffic.

    Two standard errors of a proportion near 0.3 on 300 rows is ~0.053: 0.05 for the approval-rate
    change and the swap rate; PSI on 300 rows in 10 bins carries ~0.03 of noise alone, so 0.1.
    """

    score_psi: float = 0.1
    approval_rate_change: float = 0.05
    swap_rate: float = 0.05


class GateRow(BaseModel):
    """One line of the gate's table."""

    model_config = ConfigDict(frozen=True)

    check: str
    value: str
    limit: str
    ok: bool


class GateResult(BaseModel):
    """The gate's verdict, its one-line reason and its table."""

    model_config = ConfigDict(frozen=True)

    passed: bool
    mode: Literal["identity", "limits", "none"]
    reason: str
    target_model_version: str | None
    baseline_model_version: str | None
    rows: list[GateRow]


@dataclass(frozen=True)
class Baseline:
    """The answers the new version is held against, and which model gave them."""

    model_version: str
    answers: Sequence[ReplayAnswer]
    what: str  # "the frozen replay set" or "live version 6"


def contract_problems(raw: Sequence[Any], expected: int, model_version: str) -> tuple[list[ReplayAnswer], list[str]]:
    """The answers as the gate reads them, and every way they break the API's answer contract."""
    problems: list[str] = []
    if len(raw) != expected:
        problems.append(f"{len(raw)} answers for {expected} applications")
    answers: list[ReplayAnswer] = []
    for i, a in enumerate(raw):
        if not isinstance(a, dict):
            problems.append(f"answer {i} is not an object")
            continue
        p, bad, decision = a.get("probability_good_credit"), a.get("probability_bad_credit"), a.get("decision")
        if not isinstance(p, float | int) or isinstance(p, bool) or not 0 <= p <= 1:
            problems.append(f"answer {i}: probability_good_credit {p!r} is not a probability")
            continue
        if not isinstance(bad, float | int) or abs(p + bad - 1) > 1e-9:
            problems.append(f"answer {i}: probability_bad_credit {bad!r} is not 1 - probability_good_credit")
        if decision not in ("approve", "refuse"):
            problems.append(f"answer {i}: decision {decision!r} is neither approve nor refuse")
            continue
        if a.get("prediction") != (1 if decision == "approve" else 0):
            problems.append(f"answer {i}: prediction {a.get('prediction')!r} contradicts decision {decision}")
        if a.get("risk_level") not in RISK_LEVELS or a.get("confidence") not in RISK_LEVELS:
            problems.append(f"answer {i}: risk_level/confidence {a.get('risk_level')!r}/{a.get('confidence')!r}")
        if a.get("model_version") != model_version:
            problems.append(f"answer {i}: model_version {a.get('model_version')!r}, expected {model_version}")
        if not a.get("prediction_id"):
            problems.append(f"answer {i}: no prediction_id")
        answers.append(ReplayAnswer(probability_good_credit=float(p), decision=decision))
    return answers, problems


@dataclass(frozen=True)
class Comparison:
    """How two answer sets to the same applications differ."""

    rows: int
    differing: int  # decision or probability (at 12 significant digits) not identical
    max_probability_diff: float
    score_psi: float
    approval_rate_baseline: float
    approval_rate_new: float
    swap_rate: float

    @property
    def approval_rate_change(self) -> float:
        """New minus baseline."""
        return self.approval_rate_new - self.approval_rate_baseline


def compare(baseline: Sequence[ReplayAnswer], new: Sequence[ReplayAnswer]) -> Comparison:
    """Decisions, probabilities, PSI (baseline deciles, floored) and swaps between two answer sets."""
    n = len(baseline)
    pairs = list(zip(baseline, new, strict=True))
    differing = sum(
        1
        for b, a in pairs
        if b.decision != a.decision
        or canonical_probability(b.probability_good_credit) != canonical_probability(a.probability_good_credit)
    )
    max_diff = max((abs(b.probability_good_credit - a.probability_good_credit) for b, a in pairs), default=0.0)
    approved_b = sum(b.decision == "approve" for b in baseline)
    approved_n = sum(a.decision == "approve" for a in new)
    swaps = sum(b.decision != a.decision for b, a in pairs)
    return Comparison(
        rows=n,
        differing=differing,
        max_probability_diff=max_diff,
        score_psi=score_psi([b.probability_good_credit for b in baseline], [a.probability_good_credit for a in new]),
        approval_rate_baseline=approved_b / n if n else 0.0,
        approval_rate_new=approved_n / n if n else 0.0,
        swap_rate=swaps / n if n else 0.0,
    )


def score_psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """PSI of `actual` against `expected`, in the deciles of `expected` (right-closed), empty bins floored."""
    if not expected or not actual:
        return 0.0
    ordered = sorted(expected)
    edges = sorted({ordered[min(len(ordered) - 1, math.ceil(q * len(ordered) / PSI_BINS) - 1)] for q in range(1, 10)})

    def shares(values: Sequence[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for v in values:
            counts[sum(1 for e in edges if v > e)] += 1
        return [max(c / len(values), PSI_FLOOR) for c in counts]

    e, a = shares(expected), shares(actual)
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


def judge(
    raw_answers: Sequence[Any],
    applications: int,
    target_model_version: str,
    baseline: Baseline,
    evidence: ComparisonEvidence | None,
    tolerance: Tolerance,
) -> GateResult:
    """The verdict on a new version's answers to the replay set (raw: the API's answer objects)."""
    answers, problems = contract_problems(raw_answers, applications, target_model_version)
    rows = [
        GateRow(
            check="answer contract",
            value=f"{len(problems)} problem(s)" if problems else f"{len(raw_answers)} answers well-formed",
            limit=f"{applications} answers of model {target_model_version}",
            ok=not problems,
        )
    ]

    def result(passed: bool, mode: Literal["identity", "limits", "none"], reason: str) -> GateResult:
        return GateResult(
            passed=passed,
            mode=mode,
            reason=reason,
            target_model_version=target_model_version,
            baseline_model_version=baseline.model_version,
            rows=rows,
        )

    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return result(False, "none", f"the answers break the contract: {problems[0]}{more}")
    cmp = compare(baseline.answers, answers)
    if target_model_version == baseline.model_version:
        rows.append(
            GateRow(
                check=f"identical to {baseline.what}",
                value=f"{cmp.differing} of {cmp.rows} differ (max |dP| {cmp.max_probability_diff:.2g})",
                limit="0 differ",
                ok=cmp.differing == 0,
            )
        )
        if cmp.differing:
            return result(
                False,
                "identity",
                f"model {target_model_version} unchanged but {cmp.differing} of {cmp.rows} answers differ from "
                f"{baseline.what}: a code change changed decisions or probabilities",
            )
        return result(True, "identity", f"model {target_model_version} unchanged: {cmp.rows} answers identical")
    return _limits(result, rows, cmp, target_model_version, baseline, evidence, tolerance)


def _limits(
    result: Any,
    rows: list[GateRow],
    cmp: Comparison,
    target: str,
    baseline: Baseline,
    evidence: ComparisonEvidence | None,
    tolerance: Tolerance,
) -> GateResult:
    if evidence is None:
        return result(
            False,
            "limits",
            f"model changed ({baseline.model_version} -> {target}) and no comparison evidence exists for {target}: "
            "run the comparison and promote it first (docs/deploy.md)",
        )
    if evidence.verdict != "promote":
        why = "; ".join(evidence.reasons[:2]) or "no reason given"
        return result(
            False,
            "limits",
            f"the latest comparison of {target} ({evidence.report_id}) says {evidence.verdict}, not promote: {why}",
        )
    if evidence.champion_version != baseline.model_version:
        return result(
            False,
            "limits",
            f"comparison {evidence.report_id} judged {target} against {evidence.champion_version}, "
            f"but the live model is {baseline.model_version}",
        )
    figures = {
        "score_psi": evidence.score_psi,
        "approval_rate_change": evidence.approval_rate_change,
        "swap_rate": evidence.swap_rate,
    }
    missing = [k for k, v in figures.items() if v is None]
    if missing:
        return result(
            False, "limits", f"comparison {evidence.report_id} has no {', '.join(missing)}: nothing to hold {target} to"
        )
    checks = [
        ("score PSI", cmp.score_psi, abs(figures["score_psi"] or 0) + tolerance.score_psi, "{:.3f}"),
        (
            "approval-rate change",
            abs(cmp.approval_rate_change),
            abs(figures["approval_rate_change"] or 0) + tolerance.approval_rate_change,
            "{:.3f}",
        ),
        ("swap rate", cmp.swap_rate, abs(figures["swap_rate"] or 0) + tolerance.swap_rate, "{:.3f}"),
    ]
    failed = []
    for name, value, limit, fmt in checks:
        ok = value <= limit
        rows.append(GateRow(check=name, value=fmt.format(value), limit="<= " + fmt.format(limit), ok=ok))
        if not ok:
            failed.append(f"{name} {fmt.format(value)} > {fmt.format(limit)}")
    where = f"vs {baseline.what} ({baseline.model_version}), evidence {evidence.report_id}"
    if failed:
        return result(False, "limits", f"model {target} outside what was approved: {'; '.join(failed)} ({where})")
    return result(True, "limits", f"model {target} within what was approved ({where})")
