"""Progress lines when output is not a terminal: counts, calls made and the best value over all units."""

import logging

from gibo.progress import Progress


def test_progress_lines_count_calls_and_keep_the_best_of_finished_units(caplog):
    with (
        caplog.at_level(logging.INFO, logger="gibo.progress"),
        Progress("gibo Swimmer-v5", units=3, calls_per_unit=100, log_interval=0.0) as progress,
    ):
        progress.calls("trial000", 40, best=350.0)
        progress.calls("trial001", 10, best=20.0)
        progress.unit_done("trial000", calls=100)
        progress.calls("trial001", 60, best=75.0)  # below the finished unit's best
        progress.calls("trial002", 5, best=None)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "gibo Swimmer-v5: 0/3 units, 40/300 calls, 1 running, best so far 350 (trial000)"
    assert lines[2] == "gibo Swimmer-v5: 1/3 units, 110/300 calls, 1 running, best so far 350 (trial000)"
    assert lines[3] == "gibo Swimmer-v5: 1/3 units, 160/300 calls, 1 running, best so far 350 (trial000)"
    assert lines[4] == "gibo Swimmer-v5: 1/3 units, 165/300 calls, 2 running, best so far 350 (trial000)"
    assert lines[-1].startswith("gibo Swimmer-v5: 1/3 units")  # the closing line


def test_progress_without_values_names_no_best(caplog):
    with (
        caplog.at_level(logging.INFO, logger="gibo.progress"),
        Progress("objectives", units=2, log_interval=0.0) as progress,
    ):
        progress.unit_done("dim4/objective000")
        progress.unit_done("dim4/objective001")
    assert [r.getMessage() for r in caplog.records] == [
        "objectives: 1/2 units",
        "objectives: 2/2 units",
        "objectives: 2/2 units",
    ]


def test_a_unit_that_failed_counts_only_the_calls_it_made(caplog):
    with (
        caplog.at_level(logging.INFO, logger="gibo.progress"),
        Progress("gibo Walker2d-v5", units=3, calls_per_unit=50, log_interval=0.0) as progress,
    ):
        progress.unit_done("trial000", failed=True)  # failed before its first report
        progress.calls("trial001", 18)
        progress.unit_done("trial001", failed=True)  # failed after 18 calls
        progress.calls("trial002", 30)
        progress.unit_done("trial002", calls=45)  # its result records 45 calls
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "gibo Walker2d-v5: 1/3 units (1 failed), 0/150 calls"
    assert lines[2] == "gibo Walker2d-v5: 2/3 units (2 failed), 18/150 calls"
    assert lines[-1] == "gibo Walker2d-v5: 3/3 units (2 failed), 63/150 calls"
