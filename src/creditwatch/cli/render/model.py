"""What `creditwatch model` prints: versions, a card, alias moves, a trained challenger, an export."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from creditwatch.mlflow_export import ExportedRun
    from creditwatch_analytics.model_lifecycle import Registered
    from creditwatch_common.model_card import ModelCard
    from creditwatch_common.model_registry import AliasMove

SHOWN_FIGURES = ("auc", "approval_rate", "bad_rate_approved", "expected_cost", "brier")


def _at(value: Any) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else "-"


def _figure(values: Mapping[str, float | None] | None) -> str:
    if not values or values.get("value") is None:
        return "-"
    low, high = values.get("low"), values.get("high")
    interval = f" ({low:.3f}-{high:.3f})" if low is not None and high is not None else ""
    return f"{values['value']:.3f}{interval}"


def version_row(card: ModelCard, aliases: Mapping[str, AliasMove]) -> dict[str, Any]:
    """One version as `list --json` gives it: version, aliases, provenance, rows and AUC on both holdouts."""
    auc = {name: (h.figures.get("auc") or {}).get("value") for name, h in card.validation.items()}
    return {
        "version": card.version,
        "aliases": sorted(name for name, move in aliases.items() if move.version == card.version),
        "created_at": _at(card.created_at),
        "created_by": card.created_by,
        "why": card.why,
        "rows_by_source": dict(card.training.rows_by_source),
        "auc_original_holdout": auc.get("original"),
        "auc_recent_holdout": auc.get("recent"),
    }


def versions(rows: Sequence[Mapping[str, Any]], aliases: Mapping[str, AliasMove]) -> None:
    """`model list`: one line a version, oldest first, then what each alias names."""
    if not rows:
        typer.echo("no model version registered: `creditwatch local up` registers the layer's model as champion")
        return
    typer.echo(f"{'version':<14} {'aliases':<20} {'created':<21} {'rows (original+matured)':<24} AUC original / recent")
    for r in rows:
        rows_by = r["rows_by_source"]
        counted = f"{rows_by.get('original', 0)}+{rows_by.get('matured_outcomes', 0)}"
        auc = " / ".join("-" if v is None else f"{v:.3f}" for v in (r["auc_original_holdout"], r["auc_recent_holdout"]))
        typer.echo(f"{r['version']:<14} {','.join(r['aliases']) or '-':<20} {r['created_at']:<21} {counted:<24} {auc}")
    for name, move in sorted(aliases.items()):
        typer.echo(
            f"{name}: {move.version or '(cleared)'} since {_at(move.moved_at)} by {move.moved_by}: {move.reason}"
        )


def card(card: ModelCard, aliases: Sequence[str]) -> None:
    """`model show`: the card, readable."""
    t = card.training
    typer.echo(f"version {card.version} ({card.name}){' · ' + ', '.join(aliases) if aliases else ''}")
    typer.echo(f"created {_at(card.created_at)} by {card.created_by}: {card.why}")
    if card.parent_version:
        typer.echo(f"champion when trained: {card.parent_version}")
    rows = ", ".join(f"{k} {v}" for k, v in t.rows_by_source.items())
    typer.echo(f"training data: {rows}; fingerprint {t.fingerprint[:16]}")
    if t.window_start and t.window_end:
        typer.echo(f"  matured outcomes of predictions {_at(t.window_start)} .. {_at(t.window_end)}")
    if t.weights_by_decision:
        typer.echo("  weights by decision: " + ", ".join(f"{k} {v:.3f}" for k, v in t.weights_by_decision.items()))
    typer.echo(f"  selection: {t.selection}")
    hp = card.parameters.get("hyperparameters") or {}
    typer.echo(
        f"parameters: threshold {card.parameters.get('threshold')}; " + ", ".join(f"{k} {v}" for k, v in hp.items())
    )
    holdouts = list(card.validation)
    typer.echo("validation (95% intervals):")
    typer.echo(f"  {'figure':<19}" + "".join(f"{f'{n} ({card.validation[n].rows} rows)':<28}" for n in holdouts))
    for name in SHOWN_FIGURES:
        typer.echo(f"  {name:<19}" + "".join(f"{_figure(card.validation[h].figures.get(name)):<28}" for h in holdouts))
    for h in holdouts:
        if card.validation[h].note:
            typer.echo(f"  {h}: {card.validation[h].note}")
    if card.fairness:
        typer.echo("fairness (disparate impact, lowest group approval rate / highest):")
    for f in card.fairness:
        if f.disparate_impact is None:
            typer.echo(f"  {f.holdout} · {f.attribute}: {f.note}")
            continue
        rates = ", ".join(f"{g} {r:.1%} ({f.rows[g]})" for g, r in f.approval_rates.items())
        typer.echo(f"  {f.holdout} · {f.attribute}: {f.disparate_impact:.2f} (95% {f.low:.2f}-{f.high:.2f}); {rates}")
    typer.echo(
        f"trained on {len(card.prediction_ids)} logged prediction(s), "
        f"evaluated on {len(card.holdout_prediction_ids)} more"
    )
    typer.echo("artifacts (sha256): " + ", ".join(f"{n} {h[:12]}" for n, h in card.artifacts.items()))


def moves(alias: str, history: Sequence[AliasMove]) -> None:
    """`model history`: every move of an alias."""
    if not history:
        typer.echo(f"{alias} has never been set")
    for m in history:
        typer.echo(move_line(alias, m))


def move_line(alias: str, m: AliasMove) -> str:
    """One move of an alias in a line: when, from, to, who, why, on which evidence."""
    evidence = f" · evidence {m.evidence_report_id}" if m.evidence_report_id else ""
    forced = " · FORCED" if m.forced else ""
    return (
        f"{_at(m.moved_at)} {alias}: {m.previous_version or '-'} -> {m.version or '(cleared)'} by {m.moved_by}: "
        f"{m.reason}{evidence}{forced}"
    )


def moved(move: AliasMove) -> None:
    """One alias move, as made."""
    moves(move.alias, [move])


def promotion_note(deployed: bool) -> None:
    """Where a champion move takes effect."""
    if deployed:
        typer.echo("deployed stacks serve the version their function configuration pins (MODEL_VERSION): deploy it")
    else:
        typer.echo("the local predict function serves it from its next request (GET /health names it)")


def trained(done: Registered, champion: str | None) -> None:
    """`model train --challenger`: the version, its data, both holdouts' AUC beside the champion's."""
    c = done.card
    rows = ", ".join(f"{k} {v}" for k, v in c.training.rows_by_source.items())
    state = "registered" if done.new else "already registered (same inputs, same version)"
    typer.echo(f"challenger {c.version} {state}; champion {champion or '-'}")
    typer.echo(f"  trained on {rows}; recent holdout {c.validation['recent'].rows} rows")
    for name, h in c.validation.items():
        typer.echo(
            f"  AUC on the {name} holdout: {_figure(h.figures.get('auc'))}{' (' + h.note + ')' if h.note else ''}"
        )
    if done.move is not None:
        moved(done.move)
    else:
        typer.echo(f"  challenger already names {c.version}")


def exported(version: str, run: ExportedRun, tracking_uri: str) -> None:
    """`model export-mlflow`: the run that holds the version."""
    typer.echo(f"version {version} logged to {tracking_uri}: experiment {run.experiment_id}, run {run.run_id}")
    typer.echo(f"  artifacts: {run.artifact_uri}")
