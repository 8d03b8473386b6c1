"""benchmarks/run_overhead.py reads component durations from the run's console lines and times
start-up from the process start, not from the console's own clock."""
import os
import sys

import pytest

CONSOLE = """full log: /tmp/x/logs/run-1.log
[   6.2s] ImageExampleGen ...
[   8.7s] ImageExampleGen ... done in 2.5 s
[   8.7s] StatisticsGen ...
[  12.7s] StatisticsGen ... done in 4.0 s
[  12.7s] SchemaGen ... done in 0.0 s
[  21.3s] Transform ... done in 8.5 s
[  33.4s] Tuner ... done in 12.1 s
[ 110.0s] Trainer ... done in 76.6 s
[ 120.0s] Evaluator ... done in 10.0 s
[ 170.0s] ExportPusher ... done in 50.0 s

=== run summary ===
"""


@pytest.fixture(scope="module")
def bench(benchmark_module):
    return benchmark_module("run_overhead")


def test_parse_console(bench):
    r = bench.parse_console(CONSOLE, wall=175.0, startup=9.5)
    assert r["startup"] == 9.5  # as measured, not the console's 6.2
    assert (r["ImageExampleGen"], r["StatisticsGen"], r["Transform"]) == (2.5, 4.0, 8.5)
    assert (r["Evaluator"], r["ExportPusher"]) == (10.0, 50.0)
    assert "SchemaGen" not in r  # only the listed components
    assert r["fixed"] == pytest.approx(175.0 - 12.1 - 76.6)


def test_a_run_without_training_lines_is_an_error(bench):
    with pytest.raises(ValueError, match="Trainer"):
        bench.parse_console(CONSOLE.replace("Trainer ... done in 76.6 s", "Trainer ..."), 9.0,
                            None)


# A child whose "imports" take 1 s before its console clock starts at 0.0.
CHILD = ("import sys, time; time.sleep(1.0); print('full log: x'); "
         "print('[   0.0s] ImageExampleGen ...'); time.sleep(0.5); "
         "print('[   0.5s] ImageExampleGen ... done in 0.5 s'); print('oops', file=sys.stderr); "
         "sys.exit(3)")


def test_startup_counts_from_the_process_start(bench):
    code, stdout, stderr, wall, startup = bench.timed_run([sys.executable, "-c", CHILD],
                                                          os.getcwd(), dict(os.environ))
    assert code == 3 and stderr == "oops\n"
    assert stdout.splitlines()[1] == "[   0.0s] ImageExampleGen ..."
    # Arrived after the 1 s sleep (the console said 0.0) and before the 0.5 s that followed.
    assert 1.0 <= startup <= wall - 0.5
