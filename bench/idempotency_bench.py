"""Our IdempotencyStore against Powertools' Idempotency utility: what each stores, and its cost per request.

    .venv/bin/python bench/idempotency_bench.py [--quick]

Both run against the same in-memory DynamoDB client (every write succeeds, nothing on the network), so
that only the libraries' own work is timed: for a new key, ours is claim (PutItem) + complete (zlib, then
UpdateItem) of the answer bytes the app already rendered; Powertools' is idempotent_function with
DynamoDBPersistenceLayer, the key and the payload validation by JMESPath, saving the answer it returns
(its JSON serialisation included: that is how it stores it). Sizes are those of the app's own answers,
against DynamoDB's 400 KB item limit. docs/develop.md quotes the result.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

import orjson
from timing import timings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions/predict"), str(ROOT / "layers/model/python"), str(ROOT / "layers/common/python")]

ITEM_LIMIT = 400 * 1024


class MemoryDynamoDB:
    """The calls both libraries make, all successful and free: only their own work is timed."""

    def put_item(self, **_kw: Any) -> dict[str, Any]:
        """Accepted."""
        return {}

    def update_item(self, **_kw: Any) -> dict[str, Any]:
        """Accepted."""
        return {}

    def get_item(self, **_kw: Any) -> dict[str, Any]:
        """Nothing stored."""
        return {}

    def delete_item(self, **_kw: Any) -> dict[str, Any]:
        """Accepted."""
        return {}


def answers() -> dict[str, dict[str, Any]]:
    """The app's answers: one explained /predict, and 1,000-application batches without and with explanations."""
    from creditwatch_model import load_model
    from creditwatch_predict.schemas import SEED_EXAMPLE
    from creditwatch_predict.service import score_applications

    model = load_model()
    names = {f.alias: f.name for f in model.schema.features}
    app = {names[k]: v for k, v in SEED_EXAMPLE.items()}
    one = score_applications(model, [app], explain=True)[0].response(model.version)
    # Applicants that differ (a batch of one applicant repeated compresses better than any real one).
    rng = random.Random(7)
    apps = [
        {
            **app,
            "age_in_years": rng.randint(18, 90),
            "credit_amount": round(rng.uniform(250, 20000), 2),
            "duration_in_month": rng.randint(4, 72),
        }
        for _ in range(1000)
    ]

    def batch(explain: bool) -> dict[str, Any]:
        scored = score_applications(model, apps, explain=explain)
        return {"predictions": [s.response(model.version) for s in scored], "total_processed": 1000}

    return {"/predict": one, "batch of 1,000": batch(False), "batch of 1,000, explained": batch(True)}


def ours(answer: dict[str, Any], body: bytes) -> Any:
    """One new key through IdempotencyStore: claim, then keep the rendered answer."""
    from creditwatch_common.idempotency import IdempotencyStore, StoredAnswer, fingerprint

    store = IdempotencyStore(dynamodb=MemoryDynamoDB(), table="bench")
    rendered = orjson.dumps(answer)  # the app renders it anyway: the middleware keeps these bytes

    def call() -> None:
        pk = store.item_key("/predict", "key")
        fp = fingerprint("POST", "/predict", b"", body)
        store.claim(pk, fp)
        store.complete(pk, fp, StoredAnswer(200, "application/json", rendered))

    return call


def powertools(answer: dict[str, Any], body: bytes) -> Any:
    """One new key through Powertools' idempotent_function and DynamoDBPersistenceLayer."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    # Outside Lambda it warns on every call that it cannot read the remaining time: not what is measured.
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    layer = DynamoDBPersistenceLayer(table_name="bench", boto3_client=MemoryDynamoDB())  # type: ignore[arg-type]
    config = IdempotencyConfig(event_key_jmespath='["route", "key"]', payload_validation_jmespath="body")

    @idempotent_function(data_keyword_argument="request", persistence_store=layer, config=config)
    def handle(request: dict[str, Any]) -> dict[str, Any]:
        return answer

    request = {"route": "/predict", "key": "key", "body": body.decode()}
    return lambda: handle(request=request)


def main() -> None:
    """Print sizes against the item limit, then the median cost per request of each library."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args()
    from creditwatch_predict.schemas import SEED_EXAMPLE

    found = answers()
    print("stored answer (DynamoDB item limit 400 KB)")
    for name, answer in found.items():
        raw = orjson.dumps(answer)
        packed = len(zlib.compress(raw, 6))
        fits = "fits" if len(raw) < ITEM_LIMIT else "OVER the item limit"
        print(
            f"  {name:<27} Powertools (JSON) {len(raw) / 1024:8.1f} KB ({fits})   ours (zlib) {packed / 1024:7.1f} KB"
        )
    print("cost per new key (in-memory DynamoDB client; median of n)")
    for name, answer in found.items():
        body = orjson.dumps({"applications": [SEED_EXAMPLE] * (1 if name == "/predict" else 1000)})
        n = (200 if name == "/predict" else 20) // (10 if args.quick else 1)
        a = statistics.median(timings(ours(answer, body), n))
        b = statistics.median(timings(powertools(answer, body), n))
        print(f"  {name:<27} ours {a:8.3f} ms   Powertools {b:8.3f} ms   (n={n})")


if __name__ == "__main__":
    main()
