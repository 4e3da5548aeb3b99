"""Where the project's files are, found from the installed package (editable install)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("CREDITWATCH_ROOT") or Path(__file__).resolve().parents[2])
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
STATE_DIR = Path(os.environ.get("CREDITWATCH_STATE_DIR") or ROOT / ".creditwatch")
REPORTS = ROOT / "reports"
