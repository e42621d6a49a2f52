"""The benchmark code runs end to end on a small chain (timings are not checked: that is bench/'s job)."""
import re

from bench import audit


def test_audit_benchmark_runs_on_a_thousand_events(tmp_path):
    path = audit.run("sqlite", events=1000, out=tmp_path, requests=20)
    text = path.read_text()
    assert path.name == "audit-sqlite.md"
    for heading in ("## Machine", "## Cost per audited request", "## Verify", "## Viewer queries", "## Export"):
        assert heading in text
    # The synthetic chain, the 20 people's user.created events, then 20 warm-up and 20 timed record() calls.
    assert "over 1,060 events: **" in text
    assert re.search(r"\| newest page, no filter \| [0-9.]+ \| 50 \|", text)
    assert re.search(r"\| object = one XCover reference \| [0-9.]+ \| [1-9]\d* \|", text)
