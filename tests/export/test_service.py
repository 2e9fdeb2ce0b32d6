"""What a poll says while an export runs: X-Progress under 100 characters, Retry-After."""

from __future__ import annotations

from dataclasses import replace

from bridge.export.jobs import Job
from bridge.export.service import Progress

SECOND = 1_000_000
QUEUED = Job("j", "accepted", "u", b"{}", "c", 0, None, None, 0, None, 0, None, None, None, None)


def test_queued_then_starting() -> None:
    assert (Progress(QUEUED, 0).text, Progress(QUEUED, 0).retry_after) == ("queued", 1)
    running = replace(QUEUED, status="running")
    assert Progress(running, 0).text == "starting"


def test_running_says_how_far_and_when_to_come_back() -> None:
    job = replace(QUEUED, status="running", total=10_000_000_000, done=2_500_000_000)
    progress = Progress(job, 30 * SECOND)  # a quarter in 30 s: 90 s to go
    assert progress.text.startswith("25% (") and len(progress.text) < 100
    assert progress.retry_after == 10  # at most 10 s between polls
    almost = Progress(replace(job, done=9_999_000_000), 30 * SECOND)
    assert almost.retry_after == 1 and almost.text.startswith("99%")
    assert Progress(replace(job, done=0), 2 * SECOND).retry_after == 1
    assert Progress(replace(job, done=0), 20 * SECOND).retry_after == 5
