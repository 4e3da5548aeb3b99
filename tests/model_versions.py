"""Model versions for registry tests: the layer's model as champion, and cheap variants of it (another threshold).

Imported by tests as `from model_versions import ...` (pytest puts tests/ on sys.path, beside faults.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from creditwatch_common.model_card import ModelCard
from creditwatch_common.registry import ModelRegistry
from creditwatch_model import METADATA_FILE, model_dir


@functools.cache
def layer_card() -> ModelCard:
    """The layer's card, as `local up` registers it (computed once per process: ~1 s)."""
    from creditwatch_analytics.training.card import layer_card as build

    return build(model_dir(), created_by="tests", why="the layer's model")


def register_layer_champion(registry: ModelRegistry) -> str:
    """The layer's model registered and made champion, as `local up` does; its version."""
    from creditwatch_analytics.model_lifecycle import bootstrap_champion

    bootstrap_champion(registry, layer_card(), model_dir(), "tests")
    return layer_card().version


def variant(tmp_path: Path, threshold: float) -> tuple[Path, ModelCard]:
    """The layer's forest with another decision threshold: a version of its own (artifacts folder, card)."""
    version = hashlib.sha256(f"threshold {threshold}".encode()).hexdigest()[:12]
    folder = tmp_path / f"variant-{version}"
    shutil.copytree(model_dir(), folder)
    metadata: dict[str, Any] = json.loads((folder / METADATA_FILE).read_text())
    metadata["version"] = version
    metadata["decision"]["threshold"] = threshold
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    card = layer_card().model_copy(update={"version": version, "why": f"threshold {threshold}"})
    return folder, card
