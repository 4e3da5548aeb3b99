"""The report history's index in a real browser: headless Chromium opens the file offline and draws every trend."""

import os
import shutil
import struct
import subprocess
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from history_samples import drift_summary, history, quality_summary

from creditwatch_analytics.history import entry_from_summary, newest_first
from creditwatch_analytics.history_page import ATTRIBUTE_COLORS, COLORS, WINDOW_COLORS, render_index
from creditwatch_analytics.report_page import add_to_report, drift_sections, quality_sections
from creditwatch_analytics.summaries import DriftSummary, QualitySummary

pytestmark = pytest.mark.server  # a browser

DOCS_IMAGE = Path(__file__).resolve().parents[2] / "docs" / "img" / "report-index.png"


def chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        # CI installs it (.ci/run); elsewhere say so loudly rather than pass without a browser.
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return browser


def screenshot(browser: str, page: Path, png: Path, size: str = "1400,1500") -> None:
    """Headless Chromium's screenshot of a file, with every host but none unreachable (no internet)."""
    out = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--window-size={size}",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert png.exists(), out.stderr[-2000:]


def pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = data
        elif kind == b"IDAT":
            idat += data
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0
    bpp = 3 if color == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line) if bpp == 3 else bytes(v for j, v in enumerate(line) if j % 4 != 3))
        previous = line
    return width, height, rows


def colour_counts(rows: list[bytes], colours: list[str]) -> dict[str, int]:
    """How many pixels have exactly each colour."""
    wanted = {bytes.fromhex(c[1:]): c for c in colours}
    counts = dict.fromkeys(colours, 0)
    for row in rows:
        for x in range(0, len(row), 3):
            hit = wanted.get(row[x : x + 3])
            if hit:
                counts[hit] += 1
    return counts


def hourly(days: int) -> list[dict]:
    """Drift runs over a 1-hour window on demand, beside the scheduled 7-day ones."""
    out = []
    for d in range(0, days, 3):
        s = drift_summary(d, drift=0.12)
        end = datetime.fromisoformat(s["window_end"].replace("Z", "+00:00")) - timedelta(hours=6)
        s["window_start"], s["window_end"] = (
            (end - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        s["report_id"] = s["report_id"].replace("-0000", "-1000")
        out.append(s)
    return out


def test_the_index_opened_as_a_file_in_headless_chromium_draws_every_trend(tmp_path):
    browser = chromium()
    entries = newest_first(entry_from_summary(s) for s in history(30) + hourly(30))
    links = {e.report_id: f"reports/{e.report_id}.html" for e in entries}
    page = tmp_path / "index.html"
    page.write_bytes(render_index(entries, links, generated_at="2026-10-31T01:00:00Z"))
    png = tmp_path / "index.png"
    screenshot(browser, page, png)
    width, height, rows = pixels(png.read_bytes())
    assert (width, height) == (1400, 1500)
    # Each series' own colour is on screen: its line and points were drawn, not just written (the legend's
    # swatches are lighter, so they do not count). The 1-hour windows are a series of their own colour.
    # The sample history has drift and quality runs only: no comparison, so no challenger series.
    drawn = [colour for name, colour in COLORS.items() if name != "approval_challenger"]
    series = [*drawn, WINDOW_COLORS[0], *ATTRIBUTE_COLORS[:3]]
    counts = colour_counts(rows, series)
    assert all(n >= 40 for n in counts.values()), counts
    # And the page is not blank: most rows hold more than the background.
    busy = sum(1 for row in rows if len(set(row[i : i + 3] for i in range(0, len(row), 3))) > 3)
    assert busy > height * 0.6, busy
    if os.environ.get("UPDATE_DOCS_IMAGES"):
        DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, DOCS_IMAGE)


EVIDENTLY = b"<!doctype html><html><head><title>report</title></head><body><h1>Evidently</h1></body></html>"
# The verdict's red background (section.cw .verdict.alert in the report style).
ALERT = "#fde2e1"


@pytest.mark.parametrize(
    "sections",
    [
        lambda: drift_sections(DriftSummary.model_validate(drift_summary(25, drift=0.5)), {}),
        lambda: quality_sections(QualitySummary.model_validate(quality_summary(21)), {"auc": "ROC AUC"}),
    ],
    ids=["drift", "quality"],
)
def test_a_report_shows_its_verdict_on_the_first_screen(tmp_path, sections):
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_bytes(add_to_report(EVIDENTLY, sections()))
    png = tmp_path / "report.png"
    screenshot(browser, page, png, size="1280,400")
    _, _, rows = pixels(png.read_bytes())
    # The verdict's badge is drawn within the first 400 px: nobody scrolls to find the verdict.
    assert colour_counts(rows, [ALERT])[ALERT] > 2000
