"""Simulated traffic on the local stack: `simulate traffic` (now) and `simulate history DAYS` (a labelled past)."""

from __future__ import annotations

from typing import Annotated

import typer

from creditwatch import errors
from creditwatch.cli import common, render

simulate_app = common.sub_app("Simulated traffic on the local stack: requests now, or a labelled past.")

Seed = Annotated[int, typer.Option(help="Same seed, same traffic")]
Target = Annotated[str, typer.Option(help="handler (in-process Lambda handler) or http")]
Url = Annotated[str, typer.Option(help="API base URL for --target http")]
Json = Annotated[bool, typer.Option("--json", help="Print the summary as JSON")]
HISTORY_ONLY = ("concept-drift", "covariate-shift")


def _check_target(target: str) -> None:
    if target not in ("handler", "http"):
        common.fail("--target is handler or http", errors.USAGE)


@simulate_app.command("traffic")
def traffic(
    scenario: Annotated[
        str | None,
        typer.Option(help="stable, drift, bias, invalid, faults or day (counts below replace its own)"),
    ] = None,
    stable: Annotated[int | None, typer.Option(help="Applications drawn like the training data")] = None,
    drift: Annotated[int | None, typer.Option(help="Applications from a shifted population")] = None,
    bias: Annotated[
        int | None, typer.Option(help="Applications where female applicants ask for larger loans with worse accounts")
    ] = None,
    invalid: Annotated[int | None, typer.Option(help="Malformed or out-of-range requests")] = None,
    errors_: Annotated[
        int | None, typer.Option("--errors", help="Server errors recorded in the local log (fault scenario)")
    ] = None,
    slow: Annotated[int | None, typer.Option(help="Slow requests recorded in the local log (fault scenario)")] = None,
    seed: Seed = 42,
    target: Target = "handler",
    url: Url = "http://127.0.0.1:8000",
    amount_factor: Annotated[float, typer.Option(help="drift: credit_amount multiplier")] = 2.5,
    duration_add: Annotated[int, typer.Option(help="drift: months added to duration")] = 18,
    age_add: Annotated[int, typer.Option(help="drift: years added to age")] = -8,
    recode_share: Annotated[float, typer.Option(help="drift: share of applicants moved to the shifted codes")] = 0.6,
    as_json: Json = False,
) -> None:
    """Send traffic through the predict function of the local stack; prints the window it covered.

    Only what you ask for is sent: a --scenario, explicit counts, or both (counts replace the scenario's).
    """
    from rich.console import Console
    from rich.progress import Progress

    from creditwatch.simulate import BiasShift, DriftShift, plan_counts, run_simulation

    _check_target(target)
    if scenario in HISTORY_ONLY:
        common.fail(
            f"{scenario} is a history scenario: use `creditwatch simulate history DAYS --scenario {scenario}`",
            errors.USAGE,
        )
    explicit = {"stable": stable, "drift": drift, "bias": bias, "invalid": invalid, "errors": errors_, "slow": slow}
    try:
        counts = plan_counts(scenario, explicit)
    except ValueError as exc:
        common.fail(str(exc), errors.USAGE)
    state = common.local_state()
    shift = DriftShift(
        amount_factor=amount_factor, duration_add=duration_add, age_add=age_add, recode_share=recode_share
    )
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("simulating", total=sum(counts.values()))
        tally = run_simulation(counts, seed, state.endpoint, target, url, shift, lambda n: bar.advance(task, n))
    summary = tally.as_dict()
    if counts.get("drift"):
        summary["drift_shift"] = shift.describe()
    if counts.get("bias"):
        summary["bias_shift"] = BiasShift().describe()
    if as_json:
        common.print_json(summary)
        return
    render.tally(summary)


@simulate_app.command("history")
def history(
    days: Annotated[
        int, typer.Argument(metavar="DAYS", help="Whole UTC days of past, scored traffic to write (before today)")
    ],
    scenario: Annotated[str | None, typer.Option(help="stable, concept-drift or covariate-shift")] = None,
    per_day: Annotated[int, typer.Option(help="Applications per day")] = 200,
    outcomes: Annotated[
        str,
        typer.Option(
            help="Whose outcomes exist: approved (booked loans only, as a lender sees them) or all "
            "(a lender with bureau data on declined applicants)"
        ),
    ] = "approved",
    outcome_coverage: Annotated[
        float, typer.Option(help="Share of those applicants whose outcome is ever reported")
    ] = 0.85,
    outcome_delay_days: Annotated[
        str, typer.Option(help="Days from decision to observed outcome, MIN..MAX, uniform")
    ] = "30..60",
    change_days_ago: Annotated[
        int | None,
        typer.Option(
            help="concept-drift or covariate-shift: the change starts this many days before today "
            "(default: two thirds of the way back)"
        ),
    ] = None,
    seed: Seed = 42,
    target: Target = "handler",
    url: Url = "http://127.0.0.1:8000",
    as_json: Json = False,
) -> None:
    """Write a labelled past to the local log and post its matured outcomes through POST /outcomes.

    Its records are marked simulated by the request id prefix `simulated-history-`:
    e.g. `creditwatch simulate history 90 --scenario concept-drift --per-day 200`.
    """
    from creditwatch.labelled_history import HISTORY_SCENARIOS, HistoryError, HistoryPlan, parse_delay, run_history
    from creditwatch.simulate import outcome_poster

    _check_target(target)
    if scenario not in HISTORY_SCENARIOS:
        given = f"{scenario} is not a history scenario: " if scenario else ""
        common.fail(f"{given}simulate history needs --scenario {'|'.join(HISTORY_SCENARIOS)}", errors.USAGE)
    try:
        plan = HistoryPlan(
            scenario=scenario,
            days=days,
            per_day=per_day,
            change_days_ago=change_days_ago,
            coverage=outcome_coverage,
            delay_days=parse_delay(outcome_delay_days),
            seed=seed,
            outcomes=outcomes,
        )
    except ValueError as exc:
        common.fail(str(exc), errors.USAGE)
    state = common.local_state()
    poster = outcome_poster(state.endpoint, target, url)
    from creditwatch.progress import progress_counts

    with progress_counts({"records": plan.total, "outcomes": None}) as progress:
        try:
            result = run_history(plan, state.endpoint, poster, progress=progress)
        except HistoryError as exc:
            common.fail(str(exc), errors.FAILED)
        except ValueError as exc:  # an endpoint not on this machine
            common.fail(str(exc), errors.USAGE)
    summary = result.as_dict()
    if as_json:
        common.print_json(summary)
        return
    render.history(summary)
