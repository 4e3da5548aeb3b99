"""Our sections joined to Evidently's report page."""

from __future__ import annotations


def add_to_report(report_html: bytes, section: str) -> bytes:
    """The report with the section added at the end of its body."""
    text = report_html.decode("utf-8")
    at = text.rfind("</body>")
    return (text[:at] + section + text[at:] if at >= 0 else text + section).encode("utf-8")
