"""Human review on the local stack: `review list|show|decide`, through the review API's own service code.

The commands call `creditwatch_predict.review_service` in this process, with the local stack's review
queue and log, as the routes call it; the reviewer is `--reviewer` (there is no token on a command line
of the local stack), and the decision's event says `channel: cli`. A deployed stack is reviewed through
the API (a reviewer's token), never from here.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

import typer

from creditwatch import errors
from creditwatch.cli import common, render

review_app = common.sub_app("Review referred applications on the local stack: the queue, a case, a decision.")


class Decision(StrEnum):
    """What a reviewer may decide."""

    approve = "approve"
    refuse = "refuse"


def _store() -> tuple[Any, Any]:
    """The local stack's review queue (ReviewStore) and prediction log."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.log.reviews import ReviewStore

    log = common.prediction_log()
    template = Template(endpoint=common.local_state().endpoint)
    store = ReviewStore(
        dynamodb=stack.boto_client("dynamodb", common.local_state().endpoint),
        table=template.ref("ReviewCasesTable"),
        log_table=log.table,
        shards=log.shards,
        ttl_days=int(template.parameters["PredictionTtlDays"]),
    )
    return store, log


def _case_id(case_id: str) -> str:
    from creditwatch_common.review import CASE_ID_PATTERN

    if not re.fullmatch(CASE_ID_PATTERN, case_id):
        common.fail(f"{case_id} is not a case id (the UUIDv7 a referred answer gave as case_id)", errors.USAGE)
    return case_id


def _unavailable(exc: Exception) -> None:
    common.fail(f"{exc}: retry (is the local stack up? creditwatch local status)", errors.UNREACHABLE)


@review_app.command("list")
def review_list(
    limit: Annotated[int, typer.Option(min=1, max=100, help="Cases per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next_cursor a page before gave")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the page as GET /reviews answers it")] = False,
) -> None:
    """Print the pending cases, oldest first, with their age (one page; --cursor for the next)."""
    from creditwatch_common.log.reviews import ReviewUnavailable
    from creditwatch_predict.review_service import queue_items

    store, _ = _store()
    try:
        cases, nxt = store.pending(limit, cursor)
    except ValueError:
        common.fail(f"--cursor {cursor} is not a cursor of this queue (give a page's next_cursor)", errors.USAGE)
    except ReviewUnavailable as exc:
        _unavailable(exc)
    page = {"cases": queue_items(cases), "next_cursor": nxt}
    if as_json:
        common.print_json(page)
        return
    render.review_queue(page)


@review_app.command("show")
def review_show(
    case_id: Annotated[str, typer.Argument(help="The case_id of a referred answer")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the case as GET /reviews/{case_id} answers it")
    ] = False,
) -> None:
    """Print a case: the model's decision, P(good), the application, its reasons and a counterfactual."""
    from creditwatch_common.log.reviews import ReviewUnavailable
    from creditwatch_model import load_model
    from creditwatch_predict.review_service import case_detail

    store, log = _store()
    try:
        case = store.get(_case_id(case_id))
    except ReviewUnavailable as exc:
        _unavailable(exc)
    if case is None:
        common.fail(f"no review case {case_id} in the local stack's queue")
    # The layer's model: the counterfactual is searched again only when it scored the case.
    detail = case_detail(load_model(), case, log.get(case.prediction_id))
    if as_json:
        common.print_json(detail)
        return
    render.review_case(detail)


@review_app.command("decide")
def review_decide(
    case_id: Annotated[str, typer.Argument(help="The case_id of a referred answer")],
    decision: Annotated[Decision, typer.Option(help="The final decision", case_sensitive=False)],
    reason: Annotated[str, typer.Option(help="A reason code (creditwatch review show lists them)")],
    reviewer: Annotated[str, typer.Option(help="Who decides (recorded as decided_by)")],
    note: Annotated[str | None, typer.Option(help="Free text; no personal data beyond the case's")] = None,
    correction: Annotated[
        bool, typer.Option("--correction", help="Replace a decision already recorded (the old one is kept)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the case as POST /reviews/{case_id} answers")] = False,
) -> None:
    """Decide a case once, as POST /reviews/{case_id} does: the case, the record's final_decision, a review event."""
    from pydantic import ValidationError

    from creditwatch_common.log.reviews import ReviewUnavailable
    from creditwatch_common.review import REASON_CODES
    from creditwatch_predict.review_service import record_decision, refusal
    from creditwatch_predict.schemas import ReviewDecisionRequest

    _case_id(case_id)
    if not reviewer.strip():
        common.fail("--reviewer is empty: name who decides", errors.USAGE)
    if reason not in REASON_CODES:
        common.fail(f"--reason {reason} is not a reason code; one of: {', '.join(REASON_CODES)}", errors.USAGE)
    try:
        request = ReviewDecisionRequest(
            decision=decision.value, reason_code=reason, note=note, correction=correction
        )  # the API's own body check
    except ValidationError as exc:
        common.fail(common.plain_errors(exc.errors()), errors.USAGE)
    store, _ = _store()
    try:
        result = record_decision(store, case_id, request, reviewer.strip(), channel="cli")
    except ReviewUnavailable as exc:
        _unavailable(exc)
    refused = refusal(result, case_id)
    if refused is not None:
        hint = " with --correction" if refused.code == "already_decided" else ""
        message = refused.message.replace("send correction: true", f"decide again{hint}")
        common.fail(message[0].lower() + message[1:])
    assert result.case is not None
    answer = {**result.case.model_dump(), "result": result.status}
    if as_json:
        common.print_json(answer)
        return
    render.review_decided(answer)
