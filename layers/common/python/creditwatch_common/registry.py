"""The model registry on S3: immutable versions with their cards, aliases with their history, comparison evidence.

Layout and the shared models are creditwatch_common.model_registry's. Every failure is a RegistryError whose
message says what and where: the CLI prints it as its one `error:` line, the predict function counts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from creditwatch_common.aws import error_code
from creditwatch_common.model_card import ModelCard
from creditwatch_common.model_registry import (
    ALIAS_HISTORY_PREFIX,
    ALIASES_PREFIX,
    CARD_FILE,
    VERSIONS_PREFIX,
    Alias,
    AliasMove,
    ComparisonEvidence,
    alias_key,
    evidence_prefix,
    version_prefix,
)

_MISSING = {"NoSuchKey", "404", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
# The time in alias-history keys: they sort as the moves happened.
_KEY_TIME = "%Y%m%dT%H%M%S%fZ"


class RegistryError(Exception):
    """Something the registry cannot do; the message is one line that says what and where."""


class RegistryUnreachable(RegistryError):
    """The bucket does not answer, does not exist, or refuses us."""


class VersionNotFound(RegistryError):
    """No version of that name is registered."""


class VersionExists(RegistryError):
    """A version is immutable: it is never written twice."""


class ArtifactMismatch(RegistryError):
    """An artifact's bytes are not those its card names (tampered, truncated or replaced)."""


class RegistryCorrupt(RegistryError):
    """An object of the registry is not what its key says it holds."""


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def artifact_hashes(directory: Path) -> dict[str, str]:
    """Every file of a folder (not its subfolders) with its sha256, by name."""
    return {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file()}


class ModelRegistry:
    """Versions, aliases and evidence in one bucket (template ModelRegistryBucket), through an S3 client given."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    # ---- versions -----------------------------------------------------------------------------

    def register(self, card: ModelCard, artifacts_dir: Path) -> ModelCard:
        """Write a version's artifacts, then its card with their sha256s (last: a version is visible once whole).

        Refused (VersionExists) when the version has a card already: a version never changes.
        """
        if self._exists(version_prefix(card.version) + CARD_FILE):
            raise VersionExists(f"version {card.version} is already registered: a version is never written twice")
        files = [p for p in sorted(artifacts_dir.iterdir()) if p.is_file() and p.name != CARD_FILE]
        if not files:
            raise RegistryError(f"no artifacts in {artifacts_dir}")
        hashes = {p.name: sha256_file(p) for p in files}
        for p in files:
            self._put(version_prefix(card.version) + p.name, p.read_bytes())
        final = card.model_copy(update={"artifacts": hashes})
        # If-None-Match: of two writers racing on one version, the second is refused rather than replacing the card.
        self._put(version_prefix(card.version) + CARD_FILE, final.model_dump_json(indent=2).encode(), new_only=True)
        return final

    def versions(self) -> list[str]:
        """Every registered version (those with a card), in key order."""
        cards = [k for k in self._keys(VERSIONS_PREFIX) if k.endswith("/" + CARD_FILE)]
        return [k[len(VERSIONS_PREFIX) : -len(CARD_FILE) - 1] for k in cards]

    def knows(self, version: str) -> bool:
        """Whether the version is registered (its card listed): one LIST of versions/<version>/card.json.

        A reader granted GetObject without ListBucket gets AccessDenied, not NoSuchKey, for a missing card:
        the LIST tells a version the registry does not hold from one it cannot read.
        """
        return bool(self._list(version_prefix(version) + CARD_FILE))

    def card(self, version: str) -> ModelCard:
        """A version's card; VersionNotFound when none is registered under that name."""
        body = self._get(version_prefix(version) + CARD_FILE)
        if body is None:
            raise VersionNotFound(
                f"no model version {version} in s3://{self.bucket} (creditwatch model list shows them)"
            )
        try:
            return ModelCard.model_validate_json(body)
        except ValidationError as exc:
            raise RegistryCorrupt(
                f"the card of version {version} is not a model card: {exc.errors()[0]['msg']}"
            ) from exc

    def cards(self) -> list[ModelCard]:
        """Every version's card, oldest first."""
        return sorted((self.card(v) for v in self.versions()), key=lambda c: (c.created_at, c.version))

    def read_artifact(self, version: str, name: str, card: ModelCard | None = None) -> bytes:
        """One artifact's bytes, checked against the card's sha256 (ArtifactMismatch when they differ)."""
        card = card or self.card(version)
        expected = card.artifacts.get(name)
        if expected is None:
            raise VersionNotFound(f"version {version} has no artifact {name} (its card lists {sorted(card.artifacts)})")
        body = self._get(version_prefix(version) + name)
        if body is None:
            raise ArtifactMismatch(f"version {version}: artifact {name} is missing from s3://{self.bucket}")
        got = hashlib.sha256(body).hexdigest()
        if got != expected:
            raise ArtifactMismatch(
                f"version {version}: artifact {name} has sha256 {got[:16]}..., its card says {expected[:16]}...: "
                "the object was changed after registration; do not serve it"
            )
        return body

    def fetch(self, version: str, dest: Path, names: Iterable[str] | None = None) -> Path:
        """The version's artifacts (or those named) written into dest, each checked against the card first."""
        card = self.card(version)
        dest.mkdir(parents=True, exist_ok=True)
        for name in names if names is not None else sorted(card.artifacts):
            body = self.read_artifact(version, name, card)
            tmp = dest / f".{name}.part"
            tmp.write_bytes(body)
            tmp.replace(dest / name)
        return dest

    # ---- aliases ------------------------------------------------------------------------------

    def alias(self, name: Alias) -> AliasMove | None:
        """The alias's current move (None: never set)."""
        body = self._get(alias_key(name))
        return None if body is None else self._parse(AliasMove, body, alias_key(name))

    def aliases(self) -> dict[str, AliasMove]:
        """Every alias that is set, by name."""
        found = {}
        for key in self._keys(ALIASES_PREFIX):
            name = key[len(ALIASES_PREFIX) :].removesuffix(".json")
            body = self._get(key)
            if body is not None:
                found[name] = self._parse(AliasMove, body, key)
        return found

    def alias_etags(self) -> dict[str, str]:
        """Each alias object's ETag, in one LIST call: what a server polls to see a move."""
        out = {}
        for item in self._list(ALIASES_PREFIX):
            out[item["Key"][len(ALIASES_PREFIX) :].removesuffix(".json")] = item["ETag"]
        return out

    def move_alias(
        self,
        name: Alias,
        version: str | None,
        *,
        moved_by: str,
        reason: str,
        evidence_report_id: str | None = None,
        forced: bool = False,
        now: datetime | None = None,
    ) -> AliasMove:
        """Point an alias at a registered version (None: clear it); the move is kept in its history first."""
        if version is not None:
            self.card(version)  # VersionNotFound before anything is written
        current = self.alias(name)
        move = AliasMove(
            alias=name,
            version=version,
            previous_version=current.version if current else None,
            moved_by=moved_by,
            moved_at=now or datetime.now(UTC),
            reason=reason,
            evidence_report_id=evidence_report_id,
            forced=forced,
        )
        body = move.model_dump_json(indent=2).encode()
        stamp = move.moved_at.astimezone(UTC).strftime(_KEY_TIME)
        self._put(f"{ALIAS_HISTORY_PREFIX}{name}/{stamp}-{version or 'none'}.json", body)
        self._put(alias_key(name), body)
        return move

    def alias_history(self, name: Alias) -> list[AliasMove]:
        """Every move of an alias, oldest first."""
        moves = []
        for key in self._keys(f"{ALIAS_HISTORY_PREFIX}{name}/"):
            body = self._get(key)
            if body is not None:
                moves.append(self._parse(AliasMove, body, key))
        return moves

    # ---- evidence -----------------------------------------------------------------------------

    def latest_evidence(self, challenger_version: str) -> ComparisonEvidence | None:
        """The newest comparison written for a challenger (keys sort by generation time), or None.

        RegistryCorrupt when that object is not a ComparisonEvidence of this very challenger.
        """
        keys = [k for k in self._keys(evidence_prefix(challenger_version)) if k.endswith(".json")]
        for key in reversed(keys):
            body = self._get(key)
            if body is not None:
                evidence: ComparisonEvidence = self._parse(ComparisonEvidence, body, key)
                if evidence.challenger_version != challenger_version:
                    raise RegistryCorrupt(
                        f"s3://{self.bucket}/{key} compares {evidence.challenger_version}, not {challenger_version}"
                    )
                return evidence
        return None

    # ---- S3 -----------------------------------------------------------------------------------

    def _parse(self, model: Any, body: bytes, key: str) -> Any:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise RegistryCorrupt(
                f"s3://{self.bucket}/{key} is not a {model.__name__}: {exc.errors()[0]['msg']}"
            ) from exc

    def _unreachable(self, exc: Exception, what: str) -> RegistryError:
        code = error_code(exc)
        if code in ("AccessDenied", "403"):
            return RegistryUnreachable(f"the model registry s3://{self.bucket} refused {what} ({code})")
        if code in _NO_BUCKET:
            return RegistryUnreachable(f"the model registry bucket {self.bucket} does not exist ({code})")
        endpoint = getattr(getattr(self.s3, "meta", None), "endpoint_url", "S3")
        return RegistryUnreachable(
            f"the model registry s3://{self.bucket} cannot be reached at {endpoint} ({code}: {str(exc)[:160]})"
        )

    def _get(self, key: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return None
            raise self._unreachable(exc, f"reading {key}") from exc

    def _exists(self, key: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in _MISSING:
                return False
            raise self._unreachable(exc, f"reading {key}") from exc
        return True

    def _put(self, key: str, body: bytes, *, new_only: bool = False) -> None:
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if new_only else {}
        content_type = "application/json" if key.endswith(".json") else "application/octet-stream"
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra)
        except Exception as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise VersionExists(f"{key} was written meanwhile: a version is never written twice") from exc
            raise self._unreachable(exc, f"writing {key}") from exc

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        try:
            while True:
                page = self.s3.list_objects_v2(**kwargs)
                items.extend(page.get("Contents", []))
                if not page.get("IsTruncated"):
                    return items
                kwargs["ContinuationToken"] = page["NextContinuationToken"]
        except Exception as exc:
            raise self._unreachable(exc, f"listing {prefix}") from exc

    def _keys(self, prefix: str) -> list[str]:
        return sorted(item["Key"] for item in self._list(prefix))
