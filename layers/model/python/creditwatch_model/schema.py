"""Feature schema of the credit model, read from the metadata that ships with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FeatureKind = Literal["numerical", "ordinal", "nominal"]


@dataclass(frozen=True)
class Feature:
    """One input feature: its name, the seed's alias, its kind and its domain."""

    name: str
    alias: str
    kind: FeatureKind
    dtype: Literal["int", "float", "category"]
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    codes: dict[str, str] = field(default_factory=dict)

    @property
    def is_categorical(self) -> bool:
        """True for ordinal and nominal (coded) features."""
        return self.kind != "numerical"

    def to_dict(self) -> dict[str, Any]:
        """Serialise for metadata.json."""
        out: dict[str, Any] = {
            "name": self.name,
            "alias": self.alias,
            "kind": self.kind,
            "dtype": self.dtype,
            "description": self.description,
        }
        if self.is_categorical:
            out["codes"] = dict(self.codes)
        else:
            for key in ("minimum", "maximum", "exclusive_minimum"):
                value = getattr(self, key)
                if value is not None:
                    out[key] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feature:
        """Build from a metadata.json entry."""
        return cls(
            name=data["name"],
            alias=data["alias"],
            kind=data["kind"],
            dtype=data["dtype"],
            description=data.get("description", ""),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            exclusive_minimum=data.get("exclusive_minimum"),
            codes=dict(data.get("codes", {})),
        )


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered features; the order is the model's input order before encoding."""

    version: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        """Feature names in model order."""
        return [f.name for f in self.features]

    def by_kind(self, kind: FeatureKind) -> list[Feature]:
        """Features of one kind, in model order."""
        return [f for f in self.features if f.kind == kind]

    @property
    def numerical(self) -> list[str]:
        """Names of the numerical features (drift treats them as numerical)."""
        return [f.name for f in self.features if not f.is_categorical]

    @property
    def categorical(self) -> list[str]:
        """Names of the ordinal and nominal features (drift treats them as categorical)."""
        return [f.name for f in self.features if f.is_categorical]

    def encoded_width(self) -> int:
        """Width of the encoded vector: numerical, then ordinal, then one-hot nominal."""
        return (
            len(self.by_kind("numerical"))
            + len(self.by_kind("ordinal"))
            + sum(len(f.codes) for f in self.by_kind("nominal"))
        )

    def to_dict(self) -> dict[str, Any]:
        """Serialise for metadata.json."""
        return {"version": self.version, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        """Build from metadata.json's `feature_schema`."""
        return cls(version=data["version"], features=tuple(Feature.from_dict(f) for f in data["features"]))
