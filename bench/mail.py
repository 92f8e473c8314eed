"""Section 4b: sending one week's digest to confirmed subscribers through a local aiosmtpd server."""

from __future__ import annotations

from .report import EmailRun


def run_email(subscribers: int) -> EmailRun:
    return EmailRun(subscribers=subscribers, pending="integration with aggregator.delivery.send_week not written yet")
