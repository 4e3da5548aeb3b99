"""The frozen replay set shipped with a model: applications and the answers that model gave them.

`creditwatch train` writes it beside the model's artifacts (`replay.json`); the deployment gate
(functions/deploy_hook, `creditwatch model gate`) replays its applications through a new version and
holds the answers against it. Plain JSON and pydantic only: the hook reads it without numpy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

REPLAY_FILE = "replay.json"
# Probabilities are kept, and compared, at the precision of every other JSON artifact of the model.
SIGNIFICANT_DIGITS = 12


def canonical_probability(value: float) -> float:
    """A probability at the artifacts' precision (12 significant digits)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


class ReplayAnswer(BaseModel):
    """The answer the replay set's model gave one application."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probability_good_credit: float = Field(ge=0, le=1)
    decision: Literal["approve", "refuse"]


class ReplaySet(BaseModel):
    """Frozen applications (snake_case features) and the answers of the model version that ships them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    model_version: str
    source: str
    feature_names: list[str]
    applications: list[dict[str, Any]] = Field(min_length=1)
    answers: list[ReplayAnswer]


class InvalidReplaySet(ValueError):
    """A replay set that cannot be replayed: unreadable, malformed, or not the model's schema."""


def load_replay(path: Path) -> ReplaySet:
    """The replay set at `path`; InvalidReplaySet (one line) when it is missing or malformed."""
    try:
        replay = ReplaySet.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise InvalidReplaySet(f"no replay set at {path}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise InvalidReplaySet(f"replay set {path.name} is malformed: {where}: {first['msg']}") from None
    if len(replay.answers) != len(replay.applications):
        raise InvalidReplaySet(
            f"replay set {path.name} has {len(replay.applications)} applications but {len(replay.answers)} answers"
        )
    return replay


def schema_problems(replay: ReplaySet, feature_schema: dict[str, Any]) -> list[str]:
    """Where the replay's applications break the model's feature schema (metadata.json's `feature_schema`)."""
    features = {f["name"]: f for f in feature_schema["features"]}
    problems = []
    if replay.feature_names != list(features):
        problems.append(f"feature names {replay.feature_names[:3]}... are not the model's {list(features)[:3]}...")
    for i, app in enumerate(replay.applications):
        if set(app) != set(features):
            missing, extra = sorted(set(features) - set(app)), sorted(set(app) - set(features))
            problems.append(f"application {i}: missing {missing}, unknown {extra}")
            continue
        for name, spec in features.items():
            value = app[name]
            codes = spec.get("codes")
            if codes is not None:
                if value not in codes:
                    problems.append(f"application {i}: {name}={value!r} is not one of the model's codes")
            elif not isinstance(value, int | float) or isinstance(value, bool):
                problems.append(f"application {i}: {name}={value!r} is not a number")
            elif not spec.get("minimum", value) <= value <= spec.get("maximum", value):
                bounds = f"[{spec.get('minimum')}, {spec.get('maximum')}]"
                problems.append(f"application {i}: {name}={value!r} is outside {bounds}")
    return problems


def dump_replay(replay: ReplaySet, path: Path) -> None:
    """Write the replay set: sorted keys, one application and one answer a line, a final newline."""
    doc = replay.model_dump(mode="json")
    lines = ["{"]
    scalars = [k for k in doc if k not in ("applications", "answers")]
    for key in scalars:
        lines.append(f" {json.dumps(key)}: {json.dumps(doc[key])},")
    for key in ("applications", "answers"):
        rows = [f"  {json.dumps(row, sort_keys=True)}" for row in doc[key]]
        lines.append(f" {json.dumps(key)}: [\n" + ",\n".join(rows) + "\n ]" + ("," if key == "applications" else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
