"""The demo's reviewer step: applications referred by the referral rules, a few decided by a person, some overridden.

The demo's other traffic runs with referral off (the template's defaults), so its drift and quality figures
stay on the model's own decisions and booked loans. This step sends its own applications through the local
predict function with the referral parameters set (as `creditwatch serve --parameter ReviewBand=0.05
--parameter ReviewAuditShare=0.05`), then decides the oldest pending cases as `creditwatch review decide`
does (the review API's service code, channel `cli`): each decision lands on the case, on the prediction's
record (`final_decision`, `override`) and as a review event.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from creditwatch.demo import Demo

# The referral parameters of this step: a band of 0.02 around the threshold, and 2% of the rest at random.
REFERRAL = {"ReviewBand": "0.02", "ReviewAuditShare": "0.02"}
APPLICATIONS = 300
# Applications per /predict-batch: each answer queues its cases within a share of its own time budget.
BATCH = 50
# The reviewer decides this many of the pending cases (oldest first); every third against the model.
DECIDED = 12
OVERRIDE_EVERY = 3
REVIEWER = "demo-reviewer"


def _applications(n: int, seed: int) -> list[dict[str, Any]]:
    """N applications drawn like the training data (the stable traffic's pool)."""
    import pandas as pd

    from creditwatch.simulate import application_pool
    from creditwatch_model import REFERENCE_FILE, load_model, model_dir

    model = load_model()
    reference = pd.read_csv(
        model_dir() / REFERENCE_FILE, dtype={f.name: str for f in model.schema.features if f.is_categorical}
    )
    return random.Random(seed).choices(application_pool(model, reference), k=n)


def _store(endpoint: str) -> Any:
    """The demo stack's review queue, as `creditwatch review` opens it."""
    from creditwatch.local import stack
    from creditwatch.local.template import Template
    from creditwatch_common.log.reviews import ReviewStore

    template = Template(endpoint=endpoint)
    return ReviewStore(
        dynamodb=stack.boto_client("dynamodb", endpoint),
        table=template.ref("ReviewCasesTable"),
        log_table=template.ref("PredictionsTable"),
        shards=int(template.parameters["LogShards"]),
        ttl_days=int(template.parameters["PredictionTtlDays"]),
    )


def review_step(demo: Demo) -> str:
    """Referred applications, a reviewer's decisions on some, and the referral and override rates."""
    from creditwatch.demo import StepFailed
    from creditwatch.simulate import local_handler
    from creditwatch_common.log.reader import LogReader
    from creditwatch_predict.review_service import record_decision, refusal
    from creditwatch_predict.schemas import ReviewDecisionRequest

    call = local_handler(demo.endpoint, overrides=REFERRAL)
    apps = _applications(APPLICATIONS, demo.options.seed + 300)
    answers: list[dict[str, Any]] = []
    for i in range(0, len(apps), BATCH):
        status, _, body = call("/predict-batch", json.dumps({"applications": apps[i : i + BATCH], "explain": False}))
        if status != 200:
            raise StepFailed(f"POST /predict-batch answered {status}: {str(body)[:300]}")
        answers += body["predictions"]
    referred = [a for a in answers if a["decision"] == "refer"]
    rules = Counter(rule for a in referred for rule in a.get("referral") or [])
    if not referred or any(
        a.get("model_decision") not in ("approve", "refuse") or not a.get("case_id") for a in referred
    ):
        raise StepFailed(f"{len(referred)} of {len(answers)} referred, each needs a case and the model's decision")
    store = _store(demo.endpoint)
    queued, _ = store.pending(100, None)
    if len(queued) != len(referred) or len(queued) < DECIDED:
        raise StepFailed(f"{len(queued)} case(s) pending in the queue, {len(referred)} referred")
    pending = queued[:DECIDED]
    decided: list[dict[str, Any]] = []
    for i, case in enumerate(pending):
        override = i % OVERRIDE_EVERY == OVERRIDE_EVERY - 1
        against = "refuse" if case.model_decision == "approve" else "approve"
        decision = against if override else case.model_decision
        reason = ("affordability_concern" if against == "refuse" else "verified_income") if override else None
        request = ReviewDecisionRequest(decision=decision, reason_code=reason or "agrees_with_model", note=None)
        result = record_decision(store, case.case_id, request, REVIEWER, channel="cli")
        refused = refusal(result, case.case_id)
        if refused is not None:
            raise StepFailed(f"case {case.case_id}: {refused.code}: {refused.message}")
        decided.append({"case_id": case.case_id, "decision": decision, "override": override})
    overridden = sum(d["override"] for d in decided)
    # The records say so too: the final decision and whether it overrode the model (what quality and the lake read).
    log = LogReader(dynamodb=store.dynamodb, table=store.log_table, shards=store.shards)
    recorded = [log.get(case.prediction_id) for case in pending]
    finals = sum(1 for r in recorded if r is not None and r.final_decision is not None)
    flagged = sum(1 for r in recorded if r is not None and r.override)
    if (finals, flagged) != (len(decided), overridden):
        raise StepFailed(f"{finals} record(s) carry a final decision, {flagged} an override; decided {len(decided)}")
    demo.result.review = {
        "parameters": dict(REFERRAL),
        "applications": len(answers),
        "referred": len(referred),
        "referral_rate": len(referred) / len(answers),
        "by_rule": dict(rules),
        "decided": len(decided),
        "overridden": overridden,
        "override_rate": overridden / len(decided),
        "pending": len(referred) - len(decided),
        "reviewer": REVIEWER,
    }
    by_rule = ", ".join(f"{rule} {n}" for rule, n in sorted(rules.items()))
    return (
        f"{len(answers)} applications with ReviewBand {REFERRAL['ReviewBand']} and ReviewAuditShare "
        f"{REFERRAL['ReviewAuditShare']}: {len(referred)} referred ({len(referred) / len(answers):.1%}; {by_rule}), "
        f"each with the model's decision and a case; a reviewer decided {len(decided)} (creditwatch review decide): "
        f"{overridden} against the model (override rate {overridden / len(decided):.1%}), on the records' "
        f"final_decision; {len(referred) - len(decided)} left in the queue"
    )
