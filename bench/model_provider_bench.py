"""What following the model registry costs the predict function: an alias check per request, a new champion's load.

    .venv/bin/python bench/model_provider_bench.py [--quick]

Against a moto server on a free port (a local round trip; in AWS a LIST of two keys is ~10-30 ms), the
registry holding the layer's model as champion: `champion()` with MODEL_ALIAS_CHECK_MS 0 (one LIST of
`aliases/` a request, what `creditwatch serve` does) and 1000 (the template's default: no call between
checks), and the first request after a promotion (the version's three served files fetched, each checked
against its card, then loaded). Figures are medians.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import timings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [
    str(ROOT / p) for p in ("layers/model/python", "layers/common/python", "functions/predict", "src", "tests")
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    n = 50 if parser.parse_args().quick else 500

    import boto3
    from model_versions import register_layer_champion, variant
    from moto.server import ThreadedMotoServer

    from creditwatch.local.stack import free_port
    from creditwatch_common.registry import ModelRegistry
    from creditwatch_model import load_model
    from creditwatch_predict.models import ModelProvider

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(port=port)
    server.start()
    tmp = Path(tempfile.mkdtemp())
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket="registry")
        registry = ModelRegistry(s3, "registry")
        register_layer_champion(registry)
        fallback = load_model()
        polling = ModelProvider(fallback, registry, check_interval_s=0, cache_dir=tmp / "a")
        resting = ModelProvider(fallback, registry, check_interval_s=1.0, cache_dir=tmp / "b")
        every = statistics.median(timings(polling.champion, n))
        between = statistics.median(timings(resting.champion, n))
        loads = []
        for i in range(5 if n < 500 else 20):
            folder, card = variant(tmp, 0.5 + i / 100)
            registry.register(card, folder)
            registry.move_alias("champion", card.version, moved_by="bench", reason="bench")
            t = time.perf_counter()
            assert polling.champion().version == card.version
            loads.append((time.perf_counter() - t) * 1000)
        print(f"champion() with an alias check every request (MODEL_ALIAS_CHECK_MS 0): {every:.3f} ms")
        print(f"champion() between checks (MODEL_ALIAS_CHECK_MS 1000):               {between:.4f} ms")
        print(
            f"first request after a promotion (fetch 3 files, check, load):          {statistics.median(loads):.1f} ms"
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
