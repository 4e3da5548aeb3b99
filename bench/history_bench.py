"""The report history at years of daily runs: what one job's update costs with ~800 entries, against a rebuild.

    .venv/bin/python bench/history_bench.py [--entries 800]

On a moto server in a thread (real HTTP, real S3 calls), with `--entries` drift and quality summaries
shaped like the jobs' (tests/history_samples.py). Baseline measured in the same run: the first update,
which finds no ledger and reads every entry one by one (what `--rebuild` or a lost ledger costs).
Then one more run's update: one listing, the ledger, its own entry. Prints S3 calls, seconds, the
page's and the ledger's size, and the ratio.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/common/python"), str(ROOT / "tests")]

import boto3  # noqa: E402
from history_samples import drift_summary, quality_summary  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from creditwatch_analytics.history import HistoryStore, entry_from_summary, update_history  # noqa: E402
from creditwatch_common.reports import Publisher, TokenKey, TokenLinks  # noqa: E402


class Counting:
    """An S3 client that counts its calls by operation."""

    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name in ("exceptions", "meta") or not callable(attr):
            return attr

        def call(*a: Any, **kw: Any) -> Any:
            self.calls[name] += 1
            return attr(*a, **kw)

        return call


def main() -> None:
    """Seed the entries, then time the cold update against the next one."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=800)
    n = parser.parse_args().entries
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Token links, the default (ReportLinkSigner=Token): one HMAC per report on the page.
    tokens = TokenLinks(key=lambda: TokenKey(version=1, key=b"k" * 32), base_url="https://api.example.test/")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = boto3.client(
            "s3",
            region_name="us-east-1",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        s3.create_bucket(Bucket="reports")
        store = HistoryStore(s3=s3, bucket="reports")
        start = datetime(2024, 1, 1, tzinfo=UTC)
        quality = n // 8
        for day in range(n - quality):
            store.add(entry_from_summary(drift_summary(day, start=start)))
        for day in range(quality):
            store.add(entry_from_summary(quality_summary(day * 7, start=start)))
        figures = {}
        for label, day in (("cold (no ledger: every entry read)", n), ("next run (ledger + its own entry)", n + 1)):
            counting = Counting(s3)
            t0 = time.perf_counter()
            result = update_history(
                Publisher(s3=counting, bucket="reports", tokens=tokens),
                drift_summary(day, start=start),
                link_seconds=604_800,
            )
            seconds = time.perf_counter() - t0
            figures[label] = seconds
            print(f"{label}: {result.entries} entries, {seconds:.2f} s, S3 calls {dict(counting.calls)}")
        page = s3.head_object(Bucket="reports", Key="history/index.html")["ContentLength"]
        ledger = s3.head_object(Bucket="reports", Key="history/ledger.json")["ContentLength"]
        cold, warm = figures.values()
        print(f"index.html {page / 1e6:.2f} MB, ledger.json {ledger / 1e6:.2f} MB; next run / cold = {warm / cold:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
