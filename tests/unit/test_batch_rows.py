"""A batch's applications checked a column at a time: the same dicts as pydantic, or pydantic itself."""

import math

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from creditwatch_analytics.training import load_data
from creditwatch_predict.rows import BatchRows
from creditwatch_predict.schemas import build_application_model, build_batch_model

MAX_BATCH = 1000


@pytest.fixture(scope="module")
def application(model):
    return build_application_model(model.schema)


@pytest.fixture(scope="module")
def batch(model, application):
    return build_batch_model(application, MAX_BATCH, model.schema)


@pytest.fixture
def rows(model):
    """Fifty data-set rows as a client's JSON parses: snake_case names in schema order."""
    return orjson.loads(orjson.dumps(load_data()[model.schema.names].head(50).to_dict("records")))


def by_pydantic(application, rows):
    return [application.model_validate(r).model_dump() for r in rows]


def same_with_types(a, b):
    return a == b and all(
        list(x) == list(y) and list(map(type, x.values())) == list(map(type, y.values()))
        for x, y in zip(a, b, strict=True)
    )


def test_plainly_valid_rows_pass_the_column_check_as_they_came(model, rows, application):
    checked = BatchRows(model.schema, MAX_BATCH).fast(rows)
    assert checked is not None and all(a is b for a, b in zip(checked, rows, strict=True))
    assert same_with_types(checked, by_pydantic(application, rows))


@pytest.mark.parametrize("reordered", [False, True])
def test_the_columns_the_check_gives_encode_as_the_validated_rows_do(model, rows, reordered):
    if reordered:  # keys reversed, amounts as integers: the columns hold the floats pydantic would
        rows = [{k: (int(v) if k == "credit_amount" else v) for k, v in reversed(r.items())} for r in rows]
    checked = BatchRows(model.schema, MAX_BATCH).fast(rows)
    assert checked is not None and checked.columns is not None
    assert (model.encode(checked, checked.columns) == model.encode(checked)).all()
    assert [type(v) for v in checked.columns["credit_amount"]] == [float] * len(rows)


def test_rows_in_another_order_with_whole_amounts_give_pydantics_dicts(model, rows, application):
    # Keys reversed, and credit_amount sent as an integer: pydantic's model holds it as a float.
    changed = [{k: (int(v) if k == "credit_amount" else v) for k, v in reversed(r.items())} for r in rows]
    checked = BatchRows(model.schema, MAX_BATCH).fast(changed)
    assert checked is not None
    assert same_with_types(checked, by_pydantic(application, changed))
    assert type(checked[0]["credit_amount"]) is float


def alias_for(model, name):
    return next(f.alias for f in model.schema.features if f.name == name)


CHANGES = {
    "a bool for an integer": lambda m, r: {**r, "age_in_years": True},
    "4.0 for an integer": lambda m, r: {**r, "age_in_years": 40.0},
    "a string for an integer": lambda m, r: {**r, "age_in_years": "40"},
    "an integer under its minimum": lambda m, r: {**r, "age_in_years": 17},
    "an integer over its maximum": lambda m, r: {**r, "duration_in_month": 121},
    "an amount at its exclusive minimum": lambda m, r: {**r, "credit_amount": 0.0},
    "a NaN amount": lambda m, r: {**r, "credit_amount": math.nan},
    "an infinite amount": lambda m, r: {**r, "credit_amount": math.inf},
    "an unknown code": lambda m, r: {**r, "purpose": "A499"},
    "a number for a code": lambda m, r: {**r, "purpose": 43},
    "a list for a code": lambda m, r: {**r, "purpose": ["A43"]},
    "a missing field": lambda m, r: {k: v for k, v in r.items() if k != "job"},
    "an extra field": lambda m, r: {**r, "nickname": "x"},
    "a field by its alias": lambda m, r: {
        **{k: v for k, v in r.items() if k != "job"},
        alias_for(m, "job"): r["job"],
    },
    "a row that is not an object": lambda m, r: [r],
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_row_the_columns_cannot_vouch_for_is_left_to_pydantic_whose_answer_stands(
    model, rows, application, batch, change
):
    rows[7] = change(model, rows[7])
    assert BatchRows(model.schema, MAX_BATCH).fast(rows) is None
    try:
        expected = TypeAdapter(list[application]).validate_python(rows)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as raised:
            batch.model_validate({"applications": rows})
        assert [(e["loc"][1:], e["type"]) for e in raised.value.errors()] == [
            (e["loc"], e["type"]) for e in exc.errors()
        ]
    else:
        assert same_with_types(
            batch.model_validate({"applications": rows}).applications, [a.__dict__ for a in expected]
        )


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_an_empty_or_oversized_batch_is_left_to_pydantic(model, rows, size):
    assert BatchRows(model.schema, MAX_BATCH).fast((rows * 21)[:size]) is None
