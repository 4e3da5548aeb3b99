"""A batch's applications validated a column at a time when every one is plainly valid.

Pydantic validating 1,000 applications one model at a time was the largest cost of a batch request
(bench/predict_bench.py). A batch whose every application has exactly the schema's snake_case names, with
values of the exact JSON types and within bounds, is checked here a column at a time instead, and gives
the dicts pydantic would (schema order, integers of float features as floats). Anything else (aliases,
4.0 for an integer, a wrong type or code, a value out of bounds, a missing or extra field) is left to
pydantic, so that every error stays pydantic's own.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidatorFunctionWrapHandler

from creditwatch_model import Feature, FeatureSchema

# A column's values, checked and as the validated models would hold them; None: leave it to pydantic.
ColumnCheck = Callable[[Sequence[Any]], Sequence[Any] | None]


def _column_check(f: Feature) -> ColumnCheck:
    """The check of one feature's column, with the constraints build_application_model gives it."""
    if f.is_categorical:
        codes = frozenset(f.codes)

        def coded(values: Sequence[Any]) -> Sequence[Any] | None:
            # Only a str can equal a code; an unhashable value (a list, an object) raises TypeError.
            return values if codes.issuperset(values) else None

        return coded
    lo, hi, above = f.minimum, f.maximum, f.exclusive_minimum

    def in_bounds(values: Sequence[Any]) -> bool:
        low, high = min(values), max(values)
        return (lo is None or low >= lo) and (hi is None or high <= hi) and (above is None or low > above)

    if f.dtype == "int":

        def integers(values: Sequence[Any]) -> Sequence[Any] | None:
            # Strict ints only (bool is not one); 4.0 is pydantic's to turn into 4.
            return values if set(map(type, values)) == {int} and in_bounds(values) else None

        return integers

    def floats(values: Sequence[Any]) -> Sequence[Any] | None:
        types = set(map(type, values))
        if not types <= {float, int}:
            return None
        if int in types:  # a strict float field holds an integer as a float
            values = [float(v) for v in values]
        # Finite first: min and max are not to be trusted with a NaN among the values.
        return values if all(map(math.isfinite, values)) and in_bounds(values) else None

    return floats


class BatchRows:
    """Wrap validator of a batch's `applications`: the checked dicts, else pydantic's models as dicts."""

    def __init__(self, schema: FeatureSchema, max_batch: int) -> None:
        self.names = tuple(schema.names)
        self.keys = frozenset(self.names)
        self.checks = [_column_check(f) for f in schema.features]
        # A row's values in schema order, as one tuple (itemgetter of one name would give the value).
        getter = operator.itemgetter(*self.names)
        self.getter: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            getter if len(self.names) > 1 else lambda row: (getter(row),)
        )
        self.max_batch = max_batch

    def __call__(self, value: Any, handler: ValidatorFunctionWrapHandler) -> Applications:
        """The applications as validated dicts of the schema's fields, in schema order."""
        rows = self.fast(value)
        if rows is not None:
            return rows
        models: list[BaseModel] = handler(value)
        # A validated model's __dict__ is its model_dump() for these flat models of scalars, without the copy.
        return Applications(m.__dict__ for m in models)

    def fast(self, value: Any) -> Applications | None:
        """The applications validated a column at a time, or None if any of them needs pydantic."""
        if type(value) is not list or not 1 <= len(value) <= self.max_batch or set(map(type, value)) != {dict}:
            return None
        names = self.names
        # Every row's names in schema order (as clients built from the schema send them): its values in order.
        in_order = list(map(tuple, value)).count(names) == len(value)
        if in_order:
            rows = map(tuple, map(dict.values, value))
        elif any(row.keys() != self.keys for row in value):
            return None
        else:
            rows = map(self.getter, value)
        columns = list(zip(*rows, strict=True))
        checked = []
        try:
            for check, column in zip(self.checks, columns, strict=True):
                values = check(column)
                if values is None:
                    return None
                checked.append(values)
        except TypeError:  # an unhashable value, or values min() cannot order
            return None
        by_name = dict(zip(names, checked, strict=True))
        if in_order and all(new is old for new, old in zip(checked, columns, strict=True)):
            # The parsed rows are the validated dicts already (nothing mutates them): no copies.
            return Applications(value, by_name)
        return Applications((dict(zip(names, values, strict=True)) for values in zip(*checked, strict=True)), by_name)


class Applications(list[dict[str, Any]]):
    """Validated applications; with their values by feature name a column at a time when validation had them.

    The model encodes a batch from its columns (CreditModel.encode) without reading a thousand dicts again.
    """

    def __init__(self, rows: Iterable[dict[str, Any]], columns: dict[str, Sequence[Any]] | None = None) -> None:
        super().__init__(rows)
        self.columns = columns
