"""Predict function speed against the seed's way, measured side by side in one run.

    .venv/bin/python bench/predict_bench.py [--quick]

Baseline (the seed's way): the joblib scikit-learn Pipeline with the forest's n_jobs=-1, fed a one-row
DataFrame per request. Ours: the whole Lambda handler (API Gateway HTTP API v2 event -> Mangum ->
FastAPI -> numpy forest -> response + EMF metrics), with the DynamoDB client replaced by an in-memory
stub so that only our code is timed, in a process of its own that holds what the Lambda holds (no
pandas or scikit-learn). Figures are medians (and p99) over many calls; variants of one handler are
measured in interleaved rounds, and the 1,000-application batch in turns with the seed's, so that a busy
moment of the host (other engineers share its 2 cores) weighs on both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from timing import timings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "functions/predict"), str(ROOT / "layers/model/python"), str(ROOT / "layers/common/python")]
sys.path.append(str(ROOT / "bench"))  # explain_bench, for the contributions side by side

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
    "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as template.yaml's Globals set it
    "AWS_LAMBDA_FUNCTION_NAME": "PredictFunction",
    # The challenger case measures the challenger's whole cost: never paused by its budget on a busy host.
    "SHADOW_BUDGET_MS": "1000",
}
# The 1,000-application batch, ours and the seed's, measured in this many turns each.
BATCH_ROUNDS = 5
# Referral on: every rule at the values docs/operate.md shows, the novelty bound as shipped.
REFERRAL: dict[str, Any] = {
    "review_cases_table": "bench-cases",
    "review_band": 0.02,
    "review_out_of_range": True,
    "review_novelty": 1.0,
    "review_audit_share": 0.02,
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


def pct(values: list[float], q: float) -> float:
    """A percentile."""
    return float(np.percentile(values, q))


def row(label: str, values: list[float]) -> str:
    """One line of the table: p50, p99, mean."""
    return f"  {label:<58} p50 {pct(values, 50):9.3f} ms   p99 {pct(values, 99):9.3f} ms   (n={len(values)})"


class _DynamoStub(BaseHTTPRequestHandler):
    """A DynamoDB endpoint on loopback that accepts every write: the first request pays for a real
    boto3 client and an HTTP round trip, not for the network."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


# Import the handler (init), then answer the first event (boto3 import, client, PutItem over loopback).
# argv: the event file, then folders to put first on sys.path (a `sam build` output and its layers).
COLD_OURS = """
import json, sys, time
sys.path[:0] = sys.argv[2:]
t = time.perf_counter()
import creditwatch_predict.handler as h
t_init = time.perf_counter()

class Context:
    function_name, function_version, memory_limit_in_mb = "PredictFunction", "$LATEST", 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PredictFunction"
    aws_request_id, log_group_name, log_stream_name = "bench", "/aws/lambda/PredictFunction", "bench"
    def get_remaining_time_in_millis(self):
        return 29000

event = json.load(open(sys.argv[1]))
out, sys.stdout = sys.stdout, open("/dev/null", "w")
resp = h.lambda_handler(event, Context())
t_first = time.perf_counter()
sys.stdout = out
assert resp["statusCode"] == 200, resp
# What building the explanation tables during init would add to it (the first answer built them).
model = h.service().model
model._explainer = None
t_tables = time.perf_counter()
model.explainer
print((t_init - t) * 1000, (t_first - t) * 1000, "sklearn" in sys.modules, (time.perf_counter() - t_tables) * 1000)
"""
COLD_SEED = """
import sys, time
t = time.perf_counter()
import joblib, pandas, sklearn
p = joblib.load(sys.argv[1])
t_init = time.perf_counter()
p.predict_proba(pandas.read_csv(sys.argv[2], nrows=1)[sys.argv[3].split(",")])
print((t_init - t) * 1000, (time.perf_counter() - t) * 1000, True, 0)
"""


@dataclass
class ColdStart:
    """Cold-start timings of new interpreters, in ms."""

    init: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    tables: list[float] = field(default_factory=list)


@contextlib.contextmanager
def cold_env(tracing: bool) -> Iterator[dict[str, str]]:
    """The environment of a cold-start run: the function's, a loopback DynamoDB, what Lambda sets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DynamoStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {
            **os.environ,
            **ENV,
            # The code first, then what the caller had on PYTHONPATH (packages outside the venv).
            "PYTHONPATH": os.pathsep.join([*sys.path[:3], *filter(None, [os.environ.get("PYTHONPATH")])]),
            "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "LAMBDA_TASK_ROOT": str(ROOT / "functions/predict"),
            "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        }
    finally:
        server.shutdown()


def run_cold(cmd: list[str], env: dict[str, str], into: ColdStart) -> bool:
    """One new interpreter; its timings go into `into`; whether it imported scikit-learn."""
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    into.process.append((time.perf_counter() - t) * 1000)
    init_ms, first_ms, loaded, tables_ms = out.stdout.split()
    into.tables.append(float(tables_ms))
    into.init.append(float(init_ms))
    into.first.append(float(first_ms))
    return loaded == "True"


def cold_start(runs: int, tracing: bool, names: list[str]) -> tuple[ColdStart, ColdStart, bool]:
    """New interpreters: our handler (init, then the first event) vs the seed's scikit-learn pipeline."""
    event = str(ROOT / "events/predict-valid.json")
    pipeline = str(ROOT / "layers/model/python/creditwatch_model/artifacts/pipeline.joblib")
    data = str(ROOT / "data/german_credit.csv")
    ours, seed = ColdStart(), ColdStart()
    sklearn_loaded = False
    with cold_env(tracing) as env:
        for _ in range(runs):
            sklearn_loaded |= run_cold([sys.executable, "-c", COLD_OURS, event], env, ours)
            run_cold([sys.executable, "-c", COLD_SEED, pipeline, data, ",".join(names)], env, seed)
    return ours, seed, sklearn_loaded


def built_cold_start(runs: int) -> tuple[ColdStart, ColdStart, float]:
    """The `sam build` output as Lambda runs it (sources read-only: no bytecode written), as shipped
    (with the .pyc its Makefiles compile) and stripped of its bytecode; and its unzipped size in MB."""
    from creditwatch.local import rie

    work = Path(tempfile.mkdtemp(prefix="creditwatch-bench-"))
    try:
        fn = rie.built_function("PredictFunction", rie.sam_build("PredictFunction", work / "build"))
        roots = [fn.task_root, *(layer / "python" for layer in fn.layer_dirs)]
        stripped = []
        for i, root in enumerate(roots):
            copy_ = work / f"stripped-{i}"
            shutil.copytree(root, copy_, ignore=shutil.ignore_patterns("__pycache__"))
            stripped.append(copy_)
        size = sum(f.stat().st_size for r in roots for f in r.rglob("*") if f.is_file()) / 2**20
        event = str(ROOT / "events/predict-valid.json")
        # -I -S: nothing of this venv on sys.path, only the build; -B: Lambda cannot write bytecode.
        python = [sys.executable, "-I", "-S", "-B", "-c", COLD_OURS, event]
        shipped, bare = ColdStart(), ColdStart()
        with cold_env(tracing=False) as env:
            for _ in range(runs):
                run_cold([*python, *map(str, roots)], env, shipped)
                run_cold([*python, *map(str, stripped)], env, bare)
        return shipped, bare, size
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_ours(spec_file: str) -> None:
    """In a process of its own, as on Lambda (no pandas or scikit-learn in its heap): time the handler."""
    spec = json.loads(Path(spec_file).read_text())
    os.environ.update(ENV)

    from creditwatch.local.bootstrap import LocalContext
    from creditwatch_common.heap import settle_heap
    from creditwatch_predict.app import build
    from creditwatch_predict.settings import PredictSettings

    stub = StubDynamoDB()

    class StubClients:
        """What the function's build asks for, with DynamoDB answered in memory."""

        def lazy(self, service: str, **config: Any) -> Any:
            return stub if service == "dynamodb" else None

    handler = build(PredictSettings(), StubClients())  # type: ignore[arg-type]
    # A challenger: the layer's trees with other leaf values, saved as artifacts of its own (its init loads them).
    challenger_dir = Path(tempfile.mkdtemp(prefix="creditwatch-challenger-"))
    challenger_files(challenger_dir)

    def build_shadowed() -> Any:
        return build(PredictSettings(), StubClients(), challenger=load_challenger(challenger_dir))  # type: ignore[arg-type]

    build_plain = timings(lambda: build(PredictSettings(), StubClients()), 9, warmup=2)  # type: ignore[arg-type]
    build_with = timings(build_shadowed, 9, warmup=2)
    shadowed = build_shadowed()
    # The same build without explanations: today's handler before reasons, for the side-by-side figure.
    plain = build(PredictSettings().model_copy(update={"explain_predictions": False}), StubClients())  # type: ignore[arg-type]
    # Referral on: every rule at once (the case table's writes answered by the stub too).
    referring = build(PredictSettings().model_copy(update=REFERRAL), StubClients())  # type: ignore[arg-type]
    context = LocalContext("PredictFunction", 1024, 29)
    event = json.loads((ROOT / "events/predict-valid.json").read_text())
    batch_event = copy.deepcopy(event)
    batch_event["rawPath"] = batch_event["requestContext"]["http"]["path"] = "/predict-batch"
    batch_event["body"] = json.dumps({"applications": spec["applications"]})
    devnull = open(os.devnull, "w")  # noqa: SIM115 - the EMF lines Lambda would ship to CloudWatch
    settle_heap()  # what the handler's init does; again for what this harness imported since

    def call_handler(ev: dict[str, Any], service: Any = handler) -> dict[str, Any]:
        ev = copy.copy(ev)
        with contextlib.redirect_stdout(devnull):
            resp = service.handler(ev, context)
        assert resp["statusCode"] == 200, resp
        return resp

    assert b'"reasons"' in call_handler(event)["body"].encode()
    assert call_handler(event, shadowed)["body"].count('"prediction_id"') == 1
    assert b'"reasons"' not in call_handler(event, plain)["body"].encode()
    assert '"refer"' not in call_handler(event, referring)["body"]
    referred = json.loads(json.dumps(event))
    referred["body"] = json.dumps(spec["referred"])
    assert '"refer"' in call_handler(referred, referring)["body"]
    # Interleaved rounds, so that a busy moment of the host weighs on both the same.
    one: list[float] = []
    one_plain: list[float] = []
    one_shadow: list[float] = []
    one_referral: list[float] = []
    for _ in range(5):
        one += timings(lambda: call_handler(event), spec["n_one"] // 5, warmup=10)
        one_plain += timings(lambda: call_handler(event, plain), spec["n_one"] // 5, warmup=10)
        one_shadow += timings(lambda: call_handler(event, shadowed), spec["n_one"] // 5, warmup=10)
        one_referral += timings(lambda: call_handler(event, referring), spec["n_one"] // 5, warmup=10)
    one_referred = timings(lambda: call_handler(referred, referring), spec["n_one"] // 5, warmup=10)
    model_only = timings(lambda: handler.model.score([spec["first"]]), spec["n_one"], warmup=50)
    batch_referral = timings(lambda: call_handler(batch_event, referring), max(5, spec["n_batch"] // 4), warmup=1)
    referred_in_batch = call_handler(batch_event, referring)["body"].count('"decision":"refer"')
    refused = json.loads(json.dumps(event))
    refused["body"] = json.dumps(spec["refused"])
    one_refused: list[float] = []
    one_refused_shadow: list[float] = []
    for _ in range(5):
        one_refused += timings(lambda: call_handler(refused), spec["n_one"] // 10, warmup=10)
        one_refused_shadow += timings(lambda: call_handler(refused, shadowed), spec["n_one"] // 10, warmup=10)
    batch_shadow = timings(lambda: call_handler(batch_event, shadowed), spec["n_batch"], warmup=2)
    shutil.rmtree(challenger_dir, ignore_errors=True)
    out = {
        "one": one,
        "one_shadow": one_shadow,
        "one_refused": one_refused,
        "one_refused_shadow": one_refused_shadow,
        "batch_shadow": batch_shadow,
        "build_plain": build_plain,
        "build_with": build_with,
        "one_plain": one_plain,
        "model_only": model_only,
        "one_referral": one_referral,
        "one_referred": one_referred,
        "batch_referral": batch_referral,
        "referred_in_batch": referred_in_batch,
        "heap": sorted(m for m in ("pandas", "sklearn", "scipy") if m in sys.modules),
    }
    reply("result", out)
    # The batch against the seed's: rounds on the parent's word, between its own rounds of the seed's
    # batch, so that a busy moment of the host weighs on both alike.
    for line in sys.stdin:
        command, _, calls = line.partition(" ")
        if command != "batch":
            break
        stub.items = 0
        times = timings(lambda: call_handler(batch_event), int(calls), warmup=1)
        reply("batch", {"times": times, "items_per_call": stub.items / (int(calls) + 1)})


def reply(kind: str, value: Any) -> None:
    """One line to the parent: what it is, then its JSON (other lines are the function's own logs)."""
    sys.stdout.write(f"{kind} {json.dumps(value)}\n")
    sys.stdout.flush()


def answer(child: subprocess.Popen[str], kind: str) -> Any:
    """The child's next reply of this kind."""
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(f"{kind} "):
            return json.loads(line[len(kind) + 1 :])
    raise RuntimeError(f"the measuring process ended (exit {child.wait()}) before its {kind}")


def challenger_files(directory: Path) -> None:
    """A challenger's artifacts: the layer's metadata and covers, its forest with each leaf's P(good) squared-rooted."""
    import dataclasses

    from creditwatch_model import ARTIFACTS_DIR, EXPLAIN_FILE, FOREST_FILE, METADATA_FILE, load_model

    model = load_model()
    meta = json.loads((ARTIFACTS_DIR / METADATA_FILE).read_text())
    meta["version"] = "bench-challenger"
    (directory / METADATA_FILE).write_text(json.dumps(meta))
    dataclasses.replace(model.forest, value=model.forest.value**0.7).save(directory / FOREST_FILE)
    shutil.copy(ARTIFACTS_DIR / EXPLAIN_FILE, directory / EXPLAIN_FILE)


def load_challenger(directory: Path) -> Any:
    """The challenger as a model provider would load it (not load_model's per-process cache)."""
    from creditwatch_model import EXPLAIN_FILE, FOREST_FILE, METADATA_FILE, CreditModel, PackedForest

    metadata = json.loads((directory / METADATA_FILE).read_text())
    return CreditModel(metadata, PackedForest.load(directory / FOREST_FILE), cover=directory / EXPLAIN_FILE)


def main() -> None:
    """Run every measurement and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--ours", metavar="SPEC", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.ours:
        measure_ours(args.ours)
        return
    n_one, n_seed, n_batch, n_cold = (200, 30, 5, 3) if args.quick else (3000, 200, 100, 9)

    import joblib
    import pandas as pd

    from creditwatch_analytics.training import load_data
    from creditwatch_model import load_model

    model = load_model()
    pipeline = joblib.load(ROOT / "layers/model/python/creditwatch_model/artifacts/pipeline.joblib")
    pipeline.steps[-1][1].set_params(n_jobs=-1)
    data = load_data()[model.schema.names]
    one_row = data.iloc[[0]]
    records = data.sample(1000, random_state=1, replace=False).to_dict("records")

    print(f"creditwatch predict benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"model {model.version}\n")

    # Contributions by our numpy tables against shap's C++ TreeExplainer, on the same encoded rows (before
    # settle_heap below: frozen with pandas and scikit-learn in the heap, this process explains ~2.5x slower).
    import shap
    from explain_bench import contributions_side_by_side

    encoded = model.encode(records)
    side = contributions_side_by_side(
        model.explainer, shap.TreeExplainer(pipeline.steps[-1][1]), encoded, n_one // 4, max(3, n_batch // 10)
    )

    # Ours, in a child process that holds only what the Lambda holds.
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        # An applicant the model refuses: the challenger's first reason is computed for refusals only.
        p_all = model.predict_good(data.to_dict("records"))
        refused_row = data.iloc[int(np.argmin(p_all))].to_dict()
        # An applicant the band refers (the nearest to the threshold): its case is queued.
        referred_row = data.iloc[int(np.argmin(np.abs(p_all - model.threshold)))].to_dict()
        json.dump(
            {
                "n_one": n_one,
                "n_batch": n_batch,
                "first": data.iloc[0].to_dict(),
                "applications": records,
                "refused": refused_row,
                "referred": referred_row,
            },
            spec,
        )
        spec.flush()
        frame = pd.DataFrame(records)[model.schema.names]
        with subprocess.Popen(
            [sys.executable, __file__, "--ours", spec.name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as child:
            assert child.stdin is not None
            measured = answer(child, "result")
            # The batches, ours (in the child) and the seed's (here, with the handler's GC settings,
            # settle_heap, so collections cost the same) in turns.
            from creditwatch_common.heap import settle_heap

            settle_heap()
            batch: list[float] = []
            seed_batch: list[float] = []
            for _ in range(BATCH_ROUNDS):
                child.stdin.write(f"batch {max(1, n_batch // BATCH_ROUNDS)}\n")
                child.stdin.flush()
                replied = answer(child, "batch")
                batch += replied["times"]
                seed_batch += timings(lambda: pipeline.predict_proba(frame), max(1, n_batch // 20), warmup=1)
            child.stdin.close()
        if child.returncode:
            raise RuntimeError(f"the measuring process failed (exit {child.returncode})")
    ours, model_only = measured["one"], measured["model_only"]
    ours_plain = measured["one_plain"]
    items_per_call = replied["items_per_call"]

    # The baseline, in this process (the handler's GC settings, set above).
    seed_way = timings(lambda: pipeline.predict_proba(one_row), n_seed)
    pipeline.steps[-1][1].set_params(n_jobs=1)
    seed_single = timings(lambda: pipeline.predict_proba(one_row), n_seed)
    pipeline.steps[-1][1].set_params(n_jobs=-1)

    # 1. One prediction
    print(
        "one prediction (ours in a process of its own; heap also holds: "
        f"{', '.join(measured['heap']) or 'no pandas, scikit-learn or scipy'})"
    )
    print(row("ours: whole handler (event -> Mangum -> FastAPI -> model)", ours))
    print(row("ours: model alone (encode + numpy forest)", model_only))
    print(row("seed: sklearn Pipeline, n_jobs=-1, one-row DataFrame", seed_way))
    print(row("seed: sklearn Pipeline, n_jobs=1, one-row DataFrame", seed_single))
    print(
        f"  ratio seed(n_jobs=-1) / ours, medians: {pct(seed_way, 50) / pct(ours, 50):.1f}x   "
        f"(p99: {pct(seed_way, 99) / pct(ours, 99):.1f}x; vs n_jobs=1: {pct(seed_single, 50) / pct(ours, 50):.1f}x)"
    )
    print("  targets: p50 <= 1 ms, p99 <= 3 ms, >= 20x\n")

    # 1b. Reasons: the handler with explanation and reasons against the same build without them
    print("one prediction with reasons (explanation + 4 reasons + contributions logged) against without")
    print(row("ours: whole handler, with reasons (what /predict answers)", ours))
    print(row("ours: whole handler, without (EXPLAIN_PREDICTIONS=false)", ours_plain))
    print(
        f"  ratio with / without, medians: {pct(ours, 50) / pct(ours_plain, 50):.2f}x "
        f"(+{pct(ours, 50) - pct(ours_plain, 50):.3f} ms)   target: <= 2x\n"
    )
    print(f"contributions (ours: numpy tables, summed to 19 features; shap {shap.__version__}: TreeExplainer C++)")
    for label, o, t in (("one row", "ours_one", "shap_one"), ("1,000 rows", "ours_batch", "shap_batch")):
        print(
            f"  {label:<11} ours p50 {pct(side[o], 50):8.3f} ms   shap p50 {pct(side[t], 50):8.3f} ms   "
            f"ratio shap / ours {pct(side[t], 50) / pct(side[o], 50):5.1f}x   target: >= 1x"
        )
    print()

    # 1c. Shadow scoring: the same handler with a challenger set (creditwatch_predict.shadow)
    shadow, refused_one, refused_shadow = (
        measured["one_shadow"],
        measured["one_refused"],
        measured["one_refused_shadow"],
    )
    build_plain, build_with = measured["build_plain"], measured["build_with"]
    init_extra = pct(build_with, 50) - pct(build_plain, 50)
    print("one prediction with a challenger set (shadow scoring: its P(good), decision, first reason logged)")
    print(row("ours: whole handler, champion only", ours))
    print(row("ours: whole handler, with a challenger", shadow))
    print(row("ours: a refused applicant, champion only", refused_one))
    print(row("ours: a refused applicant, with a challenger (+ its first reason)", refused_shadow))
    print(row("ours: 1,000-application batch, with a challenger", measured["batch_shadow"]))
    print(row("build(): champion only", build_plain))
    print(row("build(): with a challenger (its artifacts loaded, paths prepared)", build_with))
    print(
        f"  ratio with / without, medians: one prediction {pct(shadow, 50) / pct(ours, 50):.3f}x, a refused one "
        f"{pct(refused_shadow, 50) / pct(refused_one, 50):.3f}x; init +{init_extra:.1f} ms on the cold init "
        "below   target: <= 1.15x\n"
    )

    # 1d. Referral: the same handler with every referral rule on (creditwatch_predict.referral)
    referral, referred_one = measured["one_referral"], measured["one_referred"]
    print(
        "one prediction with referral on (ReviewBand 0.02, ReviewOutOfRange 1, ReviewNovelty 1, ReviewAuditShare 0.02)"
    )
    print(row("ours: whole handler, referral off", ours))
    print(row("ours: whole handler, referral on, an application no rule refers", referral))
    print(row("ours: referral on, an application referred (its case queued)", referred_one))
    print(
        row(
            f"ours: 1,000-application batch, referral on ({measured['referred_in_batch']} referred)",
            measured["batch_referral"],
        )
    )
    print(
        f"  ratio on / off, medians: one prediction {pct(referral, 50) / pct(ours, 50):.3f}x, "
        f"a referred one {pct(referred_one, 50) / pct(ours, 50):.3f}x   target: <= 1.10x\n"
    )

    # 2. A 1,000-application batch
    print("1,000-application batch")
    print(row("ours: whole handler, /predict-batch", batch))
    print(row("seed: sklearn Pipeline, n_jobs=-1, 1,000-row DataFrame", seed_batch))
    print(f"  log items written per batch call: {items_per_call:.0f} (1 request record + 1,000 prediction records)")
    print(
        f"  ratio seed / ours, medians: {pct(seed_batch, 50) / pct(batch, 50):.2f}x (measured in {BATCH_ROUNDS} "
        "turns each, ours and the seed's alternating)   target: <= 25 ms, >= 2x\n"
    )

    # 3. Cold start
    cold, seed_cold, sklearn_loaded = cold_start(n_cold, tracing=False, names=list(model.schema.names))
    cold_xray, _, _ = cold_start(n_cold, tracing=True, names=list(model.schema.names))
    print("cold start (new interpreter; tracing off is TracingMode=Disabled)")
    print(row("ours, tracing off: init (import handler, load model)", cold.init))
    print(row("ours, tracing off: init + first response", cold.first))
    print(row("ours, tracing off: whole process", cold.process))
    print(row("ours: explanation tables, built after init (lazily: the first answer)", cold.tables))
    print(row("ours, X-Ray on (TracingMode=Active): init", cold_xray.init))
    print(row("ours, X-Ray on: init + first response", cold_xray.first))
    print(row("seed: init (import sklearn + pandas, joblib.load)", seed_cold.init))
    print(row("seed: init + first predict_proba", seed_cold.first))
    print(
        f"  ratio seed / ours (Disabled), medians: init {pct(seed_cold.init, 50) / pct(cold.init, 50):.1f}x, "
        f"to first answer {pct(seed_cold.first, 50) / pct(cold.first, 50):.1f}x; X-Ray SDK adds "
        f"{pct(cold_xray.init, 50) - pct(cold.init, 50):.0f} ms to init, "
        f"{pct(cold_xray.first, 50) - pct(cold.first, 50):.0f} ms to the first answer\n"
        f"  the first response of ours includes importing boto3, building the DynamoDB client and one PutItem "
        f"(to a loopback stub); scikit-learn imported by the handler: {sklearn_loaded}   target: init <= 500 ms\n"
        f"  with a challenger set, init grows by {init_extra:.1f} ms (build with / without, measured above): "
        f"{(pct(cold.init, 50) + init_extra) / pct(cold.init, 50):.3f}x   target: <= 1.15x\n"
        f"  building the explanation tables during init would add {pct(cold.tables, 50):.0f} ms "
        f"(+{pct(cold.tables, 50) / pct(cold.init, 50) * 100:.0f}% of init; rule: in init only if <= +10%): "
        "they stay lazy, paid by the first explained answer\n"
    )
    from creditwatch.local.rie import RieError

    shipped: ColdStart | None = None
    bare: ColdStart | None = None
    try:
        shipped, bare, size = built_cold_start(n_cold)
    except RieError as exc:  # no SAM CLI: `make setup` installs it
        print(f"cold start of the deployed artifact: skipped ({exc})\n")
    if shipped is not None and bare is not None:
        print(f"cold start of the deployed artifact (`sam build` output, {size:.0f} MB with layers; tracing off)")
        print(row("as built: with the bytecode its Makefiles compile: init", shipped.init))
        print(row("as built: init + first response", shipped.first))
        print(row("without bytecode (SAM's default builder): init", bare.init))
        print(row("without bytecode: init + first response", bare.first))
        print(
            f"  ratio without / with bytecode, medians: init {pct(bare.init, 50) / pct(shipped.init, 50):.1f}x, "
            f"to first answer {pct(bare.first, 50) / pct(shipped.first, 50):.1f}x (/var/task is read-only: "
            "without .pyc every cold start compiles what it imports)\n"
        )

    # 4. Same answers
    from creditwatch_analytics.training import perturbed_rows as make_perturbed

    perturbed_rows = make_perturbed(model, 10_000, seed=7)
    print("parity with the joblib pipeline (probability of good credit)")
    for label, frame_ in (("every row of the data set (1,000)", data), ("10,000 perturbed rows", perturbed_rows)):
        ours_p = model.predict_good(frame_.to_dict("records"))
        theirs = pipeline.predict_proba(frame_)[:, 1]
        same = int(np.sum((ours_p >= model.threshold) == (theirs >= model.threshold)))
        print(f"  {label:<36} max |diff| {np.max(np.abs(ours_p - theirs)):.2e}   same decision {same}/{len(frame_)}")
    print(
        f"\nsummary: one prediction p50 {pct(ours, 50):.3f} ms, p99 {pct(ours, 99):.3f} ms, "
        f"{pct(ours, 50) / pct(ours_plain, 50):.2f}x without reasons ({pct(ours_plain, 50):.3f} ms); "
        f"contributions {pct(side['shap_one'], 50) / pct(side['ours_one'], 50):.1f}x / "
        f"{pct(side['shap_batch'], 50) / pct(side['ours_batch'], 50):.1f}x shap's speed (1 / 1,000 rows); "
        f"{pct(seed_way, 50) / pct(ours, 50):.0f}x the seed's way; batch p50 {pct(batch, 50):.1f} ms; "
        f"cold start p50 {pct(cold.init, 50):.0f} ms init, {pct(cold.first, 50):.0f} ms to the first answer "
        f"({pct(cold_xray.init, 50):.0f} / {pct(cold_xray.first, 50):.0f} ms with X-Ray)"
        + (
            f"; deployed artifact {pct(shipped.init, 50):.0f} ms init ({pct(bare.init, 50):.0f} ms without bytecode)"
            if shipped is not None and bare is not None
            else ""
        )
    )


if __name__ == "__main__":
    main()
