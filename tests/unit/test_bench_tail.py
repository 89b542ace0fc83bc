"""The tail benchmark's verdict and report section, on made-up medians (the measuring itself is `make bench`'s)."""

import pytest

from bench.tail import METRICS, P99_TARGET, markdown, target


def document(disk_p99: float, memory_p99: float) -> dict:
    sides = {
        side: {m: 1.0 for m in METRICS} | {"p99_ms": p99} for side, p99 in (("disk", disk_p99), ("memory", memory_p99))
    }
    ratio = {m: sides["disk"][m] / sides["memory"][m] for m in METRICS}
    return {"route": "v1", "requests": 5000, "rounds_run": 3, "sides": sides, "disk_vs_memory": ratio}


@pytest.mark.parametrize(("disk_p99", "passed"), [(2.0, True), (2.0 * P99_TARGET, True), (2.96, False)])
def test_the_p99_on_disk_passes_within_the_target_of_the_p99_in_memory(disk_p99, passed):
    name, where, value, judged = target(document(disk_p99, 2.0))
    assert (value, judged) == (f"{disk_p99 / 2.0:.2f}x", passed)
    assert "1.25x" in name and "v1" in where


def test_the_report_section_shows_both_sides_and_their_ratio():
    lines = markdown(document(2.31, 2.24))
    assert "| disk | 1.000 | 1.000 | 2.310 | 1.000 | 1.000 |" in lines
    assert "| disk / memory | 1.00x | 1.00x | 1.03x | 1.00x | 1.00x |" in lines
    assert "3 rounds of 5000" in lines[0]
