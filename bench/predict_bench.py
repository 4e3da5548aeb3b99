"""Predict function speed against the seed's way, measured side by side in one run.

    .venv/bin/python bench/predict_bench.py [--quick]

Baseline (the seed's way): the joblib scikit-learn Pipeline with the forest's n_jobs=-1, fed a one-row
DataFrame per request. Ours: the whole Lambda handler (API Gateway HTTP API v2 event -> Mangum ->
FastAPI -> numpy forest -> response + EMF metrics), with the DynamoDB client replaced by an in-memory
stub so that only our code is timed. Figures are medians (and p99) over many calls.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions/predict"), str(ROOT / "layers/model/python"), str(ROOT / "layers/common/python")]

ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "ENVIRONMENT": "bench",
    "PREDICTIONS_TABLE": "bench-predictions",
    "LOG_SHARDS": "8",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "creditwatch-predict",
    "POWERTOOLS_METRICS_NAMESPACE": "CreditWatch",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
}


class StubDynamoDB:
    """In-memory stand-in for the DynamoDB client: counts the items the log writes."""

    def __init__(self) -> None:
        self.items = 0

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self.items += 1
        return {}

    def batch_write_item(self, RequestItems: dict[str, list[Any]], **kwargs: Any) -> dict[str, Any]:
        self.items += sum(len(v) for v in RequestItems.values())
        return {"UnprocessedItems": {}}


def timings(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    """Wall time of n calls, in ms."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    """A percentile."""
    return float(np.percentile(values, q))


def row(label: str, values: list[float]) -> str:
    """One line of the table: p50, p99, mean."""
    return f"  {label:<58} p50 {pct(values, 50):9.3f} ms   p99 {pct(values, 99):9.3f} ms   (n={len(values)})"


def cold_start(runs: int, tracing: bool) -> tuple[list[float], list[float], list[float], bool]:
    """New interpreters: import the handler module (loads the model) vs import scikit-learn and load the pipeline."""
    code_ours = (
        "import time,sys; t=time.perf_counter(); import creditwatch_predict.handler; "
        "print((time.perf_counter()-t)*1000, 'sklearn' in sys.modules)"
    )
    code_seed = (
        "import time; t=time.perf_counter(); import joblib, pandas, sklearn; "
        f"p=joblib.load({str(ROOT / 'layers/model/python/creditwatch_model/artifacts/pipeline.joblib')!r}); "
        "print((time.perf_counter()-t)*1000, True)"
    )
    env = {
        **os.environ,
        **ENV,
        "PYTHONPATH": os.pathsep.join(sys.path[:3]),
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
    }
    ours, whole, seed = [], [], []
    sklearn_loaded = False
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code_ours], env=env, capture_output=True, text=True, check=True)
        whole.append((time.perf_counter() - t) * 1000)
        ms, loaded = out.stdout.split()
        ours.append(float(ms))
        sklearn_loaded |= loaded == "True"
        out = subprocess.run([sys.executable, "-c", code_seed], env=env, capture_output=True, text=True, check=True)
        seed.append(float(out.stdout.split()[0]))
    return ours, whole, seed, sklearn_loaded


def main() -> None:
    """Run every measurement and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args()
    n_one, n_seed, n_batch, n_cold = (200, 30, 5, 3) if args.quick else (3000, 200, 100, 9)
    os.environ.update(ENV)

    import joblib

    import creditwatch_predict.handler as handler
    from creditwatch.local.bootstrap import LocalContext
    from creditwatch.training import load_data

    stub = StubDynamoDB()
    handler.prediction_log.dynamodb = stub
    model = handler.model
    context = LocalContext("PredictFunction", 1024, 29)
    event = json.loads((ROOT / "events/predict-valid.json").read_text())
    pipeline = joblib.load(ROOT / "layers/model/python/creditwatch_model/artifacts/pipeline.joblib")
    pipeline.steps[-1][1].set_params(n_jobs=-1)
    data = load_data()[model.schema.names]
    one_row = data.iloc[[0]]

    print(f"creditwatch predict benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"model {model.version}\n")

    # A Lambda's heap holds only the handler's init, which it gc.freeze()s; this process also holds
    # pandas, scikit-learn and the data set for the baseline: frozen too, so that full collections
    # cost here what they cost there.
    gc.freeze()
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the EMF lines Lambda would ship to CloudWatch

    def call_handler(ev: dict[str, Any]) -> dict[str, Any]:
        ev = copy.copy(ev)
        with contextlib.redirect_stdout(devnull):
            resp = handler.lambda_handler(ev, context)
        assert resp["statusCode"] == 200, resp
        return resp

    # 1. One prediction
    ours = timings(lambda: call_handler(event), n_one, warmup=50)
    first = data.iloc[0].to_dict()
    model_only = timings(lambda: model.score([first]), n_one, warmup=50)
    seed_way = timings(lambda: pipeline.predict_proba(one_row), n_seed)
    pipeline.steps[-1][1].set_params(n_jobs=1)
    seed_single = timings(lambda: pipeline.predict_proba(one_row), n_seed)
    pipeline.steps[-1][1].set_params(n_jobs=-1)
    print("one prediction")
    print(row("ours: whole handler (event -> Mangum -> FastAPI -> model)", ours))
    print(row("ours: model alone (encode + numpy forest)", model_only))
    print(row("seed: sklearn Pipeline, n_jobs=-1, one-row DataFrame", seed_way))
    print(row("seed: sklearn Pipeline, n_jobs=1, one-row DataFrame", seed_single))
    print(
        f"  ratio seed(n_jobs=-1) / ours, medians: {pct(seed_way, 50) / pct(ours, 50):.1f}x   "
        f"(p99: {pct(seed_way, 99) / pct(ours, 99):.1f}x; vs n_jobs=1: {pct(seed_single, 50) / pct(ours, 50):.1f}x)"
    )
    print("  targets: p50 <= 1 ms, p99 <= 3 ms, >= 20x\n")

    # 2. A 1,000-application batch
    records = data.sample(1000, random_state=1, replace=False).to_dict("records")
    batch_event = copy.deepcopy(event)
    batch_event["rawPath"] = batch_event["requestContext"]["http"]["path"] = "/predict-batch"
    batch_event["body"] = json.dumps({"applications": records})
    stub.items = 0
    batch = timings(lambda: call_handler(batch_event), n_batch, warmup=2)
    items_per_call = stub.items / (n_batch + 2)
    frame = pd.DataFrame(records)[model.schema.names]
    seed_batch = timings(lambda: pipeline.predict_proba(frame), max(5, n_batch // 4), warmup=1)
    print("1,000-application batch")
    print(row("ours: whole handler, /predict-batch", batch))
    print(row("seed: sklearn Pipeline, n_jobs=-1, 1,000-row DataFrame", seed_batch))
    print(f"  log items written per batch call: {items_per_call:.0f} (1 request record + 1,000 prediction records)")
    print(f"  ratio seed / ours, medians: {pct(seed_batch, 50) / pct(batch, 50):.1f}x   target: <= 25 ms\n")

    # 3. Cold start
    cold, whole, seed_cold, sklearn_loaded = cold_start(n_cold, tracing=False)
    cold_xray, whole_xray, _, _ = cold_start(n_cold, tracing=True)
    print("cold start (new interpreter)")
    print(row("ours, TracingMode=Disabled: import handler + load model", cold))
    print(row("ours, TracingMode=Disabled: whole process", whole))
    print(row("ours, TracingMode=Active (X-Ray SDK): import + load model", cold_xray))
    print(row("ours, TracingMode=Active (X-Ray SDK): whole process", whole_xray))
    print(row("seed: import sklearn + pandas + joblib.load(pipeline)", seed_cold))
    print(
        f"  ratio seed / ours (Disabled), medians: {pct(seed_cold, 50) / pct(cold, 50):.1f}x; X-Ray SDK adds "
        f"{pct(cold_xray, 50) - pct(cold, 50):.0f} ms; scikit-learn imported by the handler: {sklearn_loaded}   "
        "target: <= 500 ms\n"
    )

    # 4. Same answers
    from creditwatch.training import perturbed_rows as make_perturbed

    perturbed_rows = make_perturbed(model, 10_000, seed=7)
    print("parity with the joblib pipeline (probability of good credit)")
    for label, frame_ in (("every row of the data set (1,000)", data), ("10,000 perturbed rows", perturbed_rows)):
        ours_p = model.predict_good(frame_.to_dict("records"))
        theirs = pipeline.predict_proba(frame_)[:, 1]
        same = int(np.sum((ours_p >= model.threshold) == (theirs >= model.threshold)))
        print(f"  {label:<36} max |diff| {np.max(np.abs(ours_p - theirs)):.2e}   same decision {same}/{len(frame_)}")
    print(
        f"\nsummary: one prediction p50 {pct(ours, 50):.3f} ms, p99 {pct(ours, 99):.3f} ms, "
        f"{pct(seed_way, 50) / pct(ours, 50):.0f}x the seed's way; batch p50 {pct(batch, 50):.1f} ms; "
        f"cold start p50 {statistics.median(cold):.0f} ms ({statistics.median(cold_xray):.0f} ms with X-Ray)"
    )


if __name__ == "__main__":
    main()
