"""Request and response models; the application model is built from the model's feature schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, create_model

from creditwatch_model import FeatureSchema

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


def build_application_model(schema: FeatureSchema) -> type[BaseModel]:
    """A strict pydantic model accepting each feature by snake_case name or by the seed's alias."""
    fields: dict[str, Any] = {}
    for f in schema.features:
        alias = AliasChoices(f.name, f.alias)
        if f.is_categorical:
            codes = tuple(f.codes)
            described = "; ".join(f"{c} = {m}" for c, m in f.codes.items())
            ann: Any = Literal[codes]  # type: ignore[valid-type]
            fields[f.name] = (ann, Field(validation_alias=alias, description=f"{f.alias}. Codes: {described}"))
        else:
            bounds: dict[str, Any] = {}
            if f.minimum is not None:
                bounds["ge"] = f.minimum
            if f.maximum is not None:
                bounds["le"] = f.maximum
            if f.exclusive_minimum is not None:
                bounds["gt"] = f.exclusive_minimum
            base: Any = int if f.dtype == "int" else float
            # Strict: "12" is a wrong type, not a number to guess at; floats still accept integers.
            ann = Annotated[base, Field(strict=True, allow_inf_nan=False) if base is float else Field(strict=True)]
            fields[f.name] = (ann, Field(validation_alias=alias, description=f.alias, **bounds))
    return create_model(  # type: ignore[call-overload,no-any-return]
        "CreditApplication",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [SEED_EXAMPLE]},
        ),
        **fields,
    )


def build_batch_model(application: type[BaseModel], max_batch: int) -> type[BaseModel]:
    """`{"applications": [...]}` with 1 to max_batch applications."""
    return create_model(  # type: ignore[call-overload,no-any-return]
        "BatchPredictionRequest",
        __config__=ConfigDict(extra="forbid"),
        applications=(list[application], Field(min_length=1, max_length=max_batch)),  # type: ignore[valid-type]
    )


class PredictionResponse(BaseModel):
    """The model's answer for one application."""

    prediction: Literal[0, 1] = Field(description="1 good credit (approve), 0 bad credit (refuse)")
    probability_good_credit: float
    probability_bad_credit: float
    decision: Literal["approve", "refuse"]
    risk_level: Literal["LOW", "MEDIUM", "HIGH"]
    confidence: Literal["LOW", "MEDIUM", "HIGH"]
    model_version: str
    prediction_id: str
    timestamp: str = Field(description="UTC, ISO 8601")


class BatchPredictionResponse(BaseModel):
    """Answers for every application of a batch, in request order."""

    predictions: list[PredictionResponse]
    total_processed: int
    model_version: str
    timestamp: str


class HealthResponse(BaseModel):
    """Liveness and the loaded model."""

    status: Literal["healthy"]
    model_loaded: bool
    model_name: str
    model_version: str
    timestamp: str


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
    details: list[ErrorDetail] = []


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    error: ErrorBody
    request_id: str
