"""Request and response models; the application model is built from the model's feature schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WrapValidator,
    create_model,
)

from creditwatch_common.review import MAX_NOTE_CHARS, REASON_CODES, ReferralRule
from creditwatch_model import FeatureSchema
from creditwatch_predict.rows import BatchRows

# Seed 001's example request, verbatim (human-readable names, UCI codes).
SEED_EXAMPLE: dict[str, Any] = {
    "Duration in month": 12,
    "Credit amount": 5000.0,
    "Installment rate in percentage of disposable income": 2,
    "Age in years": 35,
    "Number of existing credits at this bank": 1,
    "Number of people being liable to provide maintenance for": 1,
    "Status of existing checking account": "A12",
    "Credit history": "A32",
    "Savings account/bonds": "A61",
    "Present employment since": "A73",
    "Job": "A173",
    "Purpose": "A43",
    "Personal status and sex": "A93",
    "Other debtors / guarantors": "A101",
    "Property": "A121",
    "Other installment plans": "A143",
    "Housing": "A152",
    "Telephone": "A192",
    "foreign worker": "A201",
}


def documented_example(schema: FeatureSchema) -> dict[str, Any]:
    """The seed's example request under the documented snake_case names."""
    by_alias = {f.alias: f.name for f in schema.features}
    return {by_alias[k]: v for k, v in SEED_EXAMPLE.items()}


def _integral(value: Any) -> Any:
    """4.0 as 4 (any float without a fraction); everything else as it came, for the strict check."""
    return int(value) if type(value) is float and value.is_integer() else value


def build_application_model(schema: FeatureSchema) -> type[BaseModel]:
    """A strict pydantic model accepting each feature by snake_case name or by the seed's alias."""
    fields: dict[str, Any] = {}
    ann: Any
    for f in schema.features:
        alias = AliasChoices(f.name, f.alias)
        if f.is_categorical:
            codes = tuple(f.codes)
            described = "; ".join(f"{c} = {m}" for c, m in f.codes.items())
            ann = Literal[codes]
            fields[f.name] = (ann, Field(validation_alias=alias, description=f"{f.alias}. Codes: {described}"))
        else:
            bounds: dict[str, Any] = {}
            if f.minimum is not None:
                bounds["ge"] = f.minimum
            if f.maximum is not None:
                bounds["le"] = f.maximum
            if f.exclusive_minimum is not None:
                bounds["gt"] = f.exclusive_minimum
            # Strict: "12" and true are wrong types, not numbers to guess at; floats accept integers, and
            # integers accept 4.0 (JSON Schema's `integer` is any number without a fraction, so a client
            # generated from the document may send it); 4.5 stays an error.
            if f.dtype == "int":
                ann = Annotated[int, BeforeValidator(_integral), Field(strict=True)]
            else:
                ann = Annotated[float, Field(strict=True, allow_inf_nan=False)]
            fields[f.name] = (ann, Field(validation_alias=alias, description=f.alias, **bounds))
    return create_model(  # type: ignore[call-overload,no-any-return]
        "CreditApplication",
        __config__=ConfigDict(
            extra="forbid",
            # The documented (snake_case) names: the schema lists only those (additionalProperties false),
            # so an example by the seed's aliases would fail a generated client's own validation.
            json_schema_extra={"examples": [documented_example(schema)]},
        ),
        **fields,
    )


def build_batch_model(application: type[BaseModel], max_batch: int, schema: FeatureSchema) -> type[BaseModel]:
    """`{"applications": [...], "explain": false}` with 1 to max_batch applications.

    `applications` validates to dicts of the application's fields (rows.py: a column at a time when it can).
    """
    applications = Annotated[list[application], WrapValidator(BatchRows(schema, max_batch))]  # type: ignore[valid-type]
    return create_model(  # type: ignore[call-overload,no-any-return]
        "BatchPredictionRequest",
        __config__=ConfigDict(extra="forbid"),
        applications=(applications, Field(min_length=1, max_length=max_batch)),
        explain=(
            Annotated[bool, Field(strict=True)],
            Field(
                False,
                description="Also answer each application's explanation and reasons (slower: off by default)",
            ),
        ),
    )


Value = Annotated[int | float | str, Field(description="A number, or a UCI code such as A12")]


class Explanation(BaseModel):
    """Exact Shapley contributions (path-dependent TreeSHAP) to P(good): base_value + sum = probability_good_credit."""

    base_value: float = Field(description="P(good) before any feature is known: the forest's expected value")
    contributions: dict[str, float] = Field(
        description="Each of the 19 schema features (snake_case) and how much it moved P(good), + raises, - lowers"
    )


class ReasonResponse(BaseModel):
    """A feature that lowered P(good): an adverse-action reason (for an approval, what held the score down)."""

    feature: str = Field(description="snake_case feature name")
    label: str = Field(description="The seed's human-readable name")
    value: Value = Field(description="The applicant's value")
    meaning: str | None = Field(description="The code's meaning (e.g. '... < 0 DM'); null for numbers")
    contribution: float = Field(description="Its contribution to P(good), rounded to 1e-6 (negative)")


class ChangeResponse(BaseModel):
    """One feature to change, from the applicant's value to the value that makes the difference."""

    model_config = ConfigDict(populate_by_name=True)

    feature: str
    label: str
    from_value: Value = Field(alias="from")
    to_value: Value = Field(alias="to")
    meaning: str | None = Field(description="The new code's meaning; null for numbers")


class CounterfactualResponse(BaseModel):
    """What would change the decision: the fewest, then smallest, changes of actionable features.

    Never sex and personal status, age or foreign-worker status. Bounded: at most 10,000 candidates
    scored and 50 ms; either bound gives `none_found`.
    """

    status: Literal["found", "already_approved", "none_found"]
    changes: list[ChangeResponse] = Field(description="Empty unless found")
    probability_good_credit: float | None = Field(description="P(good) with the changes; null unless found")
    message: str
    candidates_scored: int


class PredictionResponse(BaseModel):
    """The model's answer for one application."""

    prediction: Literal[0, 1] = Field(description="1 good credit (approve), 0 bad credit (refuse)")
    probability_good_credit: float
    probability_bad_credit: float
    decision: Literal["approve", "refuse", "refer"] = Field(
        description=(
            "approve or refuse: the model's decision, final. refer: a person decides (the application was "
            "referred to review: borderline, outside the training data's range, or a random audit); the "
            "model's own decision is then `model_decision`, and `case_id` names the review case"
        )
    )
    risk_level: Literal["LOW", "MEDIUM", "HIGH"]
    confidence: Literal["LOW", "MEDIUM", "HIGH"]
    model_version: str
    prediction_id: str
    timestamp: str = Field(description="UTC, ISO 8601")
    model_decision: Literal["approve", "refuse"] | None = Field(
        None, description="Referred applications only: the model's decision, which a reviewer confirms or overrides"
    )
    case_id: str | None = Field(
        None, description="Referred applications only: the review case (GET /reviews/{case_id})"
    )
    referral: list[ReferralRule] | None = Field(
        None,
        description=(
            "Referred applications only: why. band: P(good) near the threshold; out_of_range: a value the "
            "training data never held; novelty: values unlike the training data as a whole (a distance over "
            "the bound shipped with the model); audit: a random share of all decisions"
        ),
    )


class ExplainedPredictionResponse(PredictionResponse):
    """The model's answer for one application, with its explanation and reasons."""

    explanation: Explanation
    reasons: list[ReasonResponse] = Field(
        description="Up to four features that lowered P(good) most, most negative first", max_length=4
    )
    counterfactual: CounterfactualResponse | None = Field(
        None, description="With ?counterfactual=true only: what would turn a refusal into an approval"
    )


class BatchItemResponse(PredictionResponse):
    """One application's answer in a batch; explanation and reasons only when the request says explain: true."""

    explanation: Explanation | None = None
    reasons: list[ReasonResponse] | None = Field(None, max_length=4)


class BatchPredictionResponse(BaseModel):
    """Answers for every application of a batch, in request order."""

    predictions: list[BatchItemResponse]
    total_processed: int
    model_version: str
    timestamp: str


class HealthResponse(BaseModel):
    """Liveness and the loaded model; with `?deep=true`, each dependency's check too (503 when one is down)."""

    status: Literal["healthy", "unhealthy"]
    model_loaded: bool
    model_name: str
    model_version: str = Field(description="The champion's version: the model whose answers applicants get")
    model_source: Literal["registry", "layer"] = Field(
        "layer", description="`registry`: the registry's champion; `layer`: the model the layer ships (the fallback)"
    )
    challenger_version: str | None = Field(None, description="The challenger scored beside the champion, if any")
    timestamp: str
    checks: dict[str, str] | None = Field(
        None, description="`?deep=true` only: log_table, spill_queue: `ok`, `not configured` or `unreachable: ...`"
    )


class ErrorDetail(BaseModel):
    """One problem with the request."""

    field: str | None = None
    location: list[str | int] = []
    type: str
    message: str
    allowed: list[str] | None = None


class ErrorBody(BaseModel):
    """Machine-readable error."""

    code: str
    message: str
    details: list[ErrorDetail] = Field([], description="The first 20 problems (names clipped to 64 characters)")
    details_count: int | None = Field(None, description="How many problems in all, when there are more than 20")
    details_truncated: bool = Field(False, description="True when details lists only the first 20 problems")


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    error: ErrorBody
    request_id: str


# ---- outcomes (issue 13: ground truth for the quality job) ------------------------------------------
MAX_OUTCOMES = 1000
# A UUIDv7 as /predict answers it (lower-case; upper-case is accepted and lowered).
PREDICTION_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


OUTCOME_EXAMPLE: dict[str, Any] = {
    "prediction_id": "019ac4a2-7b3e-7c51-9f0e-2d4b8a6c1e90",
    "outcome": "bad",
    "observed_at": "2026-05-27T00:00:00Z",
}


class OutcomeItem(BaseModel):
    """The observed outcome of one logged prediction."""

    model_config = ConfigDict(extra="forbid")

    prediction_id: Annotated[str, BeforeValidator(_lower), Field(pattern=PREDICTION_ID_PATTERN)] = Field(
        description="The prediction_id /predict or /predict-batch answered (a UUIDv7)"
    )
    outcome: Literal["good", "bad"] = Field(description="good: repaid as agreed; bad: defaulted (the model's target)")
    observed_at: AwareDatetime = Field(
        description=(
            "When the outcome was observed, with a time zone; not before the prediction and not in the future "
            "(5 minutes of clock skew allowed)"
        )
    )
    correction: Annotated[bool, Field(strict=True)] = Field(
        False,
        description="Replace a different outcome already recorded (the old one is kept in the item's history); "
        "without it a different outcome is a `conflict` and changes nothing",
    )


class OutcomesRequest(BaseModel):
    """Outcomes of logged predictions, 1 to 1,000, each prediction_id at most once."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"outcomes": [OUTCOME_EXAMPLE]}]})

    outcomes: list[OutcomeItem] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomeResultResponse(BaseModel):
    """What happened to one outcome, in request order."""

    prediction_id: str
    status: Literal["recorded", "unchanged", "conflict", "corrected", "unknown_prediction"] = Field(
        description=(
            "recorded: stored; unchanged: the same outcome was stored already (nothing written); conflict: a "
            "different outcome is stored and the item did not say correction: true (nothing written: the 409 "
            "of this item); corrected: replaced, the old value kept in the history; unknown_prediction: no "
            "scored prediction has this id (never logged, expired, or a rejected request)"
        )
    )
    outcome: Literal["good", "bad"] | None = Field(description="The outcome the prediction holds now; null if none")


class OutcomesResponse(BaseModel):
    """One result per outcome sent, and how many of each status."""

    results: list[OutcomeResultResponse]
    counts: dict[str, int] = Field(description="Results per status (every status, zeros included)")


# ---- human review (issue 26: referred applications, reviewers' decisions) ------------------------------
ReasonCode = Literal[tuple(REASON_CODES)]  # type: ignore[valid-type]


class ReviewDecisionRequest(BaseModel):
    """A reviewer's decision on a case; who decides comes from the token, never from the body."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"decision": "approve", "reason_code": "verified_income", "note": "payslips"}]},
    )

    decision: Literal["approve", "refuse"]
    reason_code: ReasonCode = Field(  # type: ignore[valid-type]
        description="; ".join(f"{k}: {v}" for k, v in REASON_CODES.items())
    )
    note: str | None = Field(
        None, max_length=MAX_NOTE_CHARS, description="Free text; no personal data beyond the case's"
    )
    correction: Annotated[bool, Field(strict=True)] = Field(
        False, description="Replace a decision already recorded (the old one is kept in the case's history)"
    )


class ReviewCaseResponse(BaseModel):
    """A review case: the model's decision and, once decided, the reviewer's."""

    case_id: str
    prediction_id: str
    status: Literal["pending", "decided"]
    created_at: str = Field(description="When the application was referred (UTC, ISO 8601)")
    model_decision: Literal["approve", "refuse"]
    probability_good_credit: float
    model_version: str
    referral: list[ReferralRule]
    decision: Literal["approve", "refuse"] | None = None
    reason_code: str | None = None
    note: str | None = None
    decided_by: str | None = Field(None, description="The reviewer, from the token (or the CLI's --reviewer)")
    decided_at: str | None = None
    override: bool | None = Field(None, description="The reviewer's decision differs from the model's")
    history: list[dict[str, Any]] = Field([], description="Decisions a correction replaced, oldest first")
    age_seconds: int | None = Field(None, description="Seconds since the application was referred")
    result: Literal["decided", "corrected", "unchanged"] | None = Field(
        None, description="POST only: what this request did"
    )


class ReviewListResponse(BaseModel):
    """A page of the queue, oldest first."""

    cases: list[ReviewCaseResponse]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


class ReviewCaseDetail(ReviewCaseResponse):
    """A case with what the reviewer needs: the application, its reasons, a counterfactual."""

    application: dict[str, Value] | None = Field(description="The application as scored; null if its record is gone")
    reasons: list[ReasonResponse]
    counterfactual: CounterfactualResponse | None = Field(
        description="For a refusal: the smallest actionable change the model approves"
    )
    reason_codes: dict[str, str] = Field(description="The reason codes a decision may give")
    final_decision: Literal["approve", "refuse"] | None = Field(None, description="As the prediction's record holds it")
    note_on_record: str | None = None
