"""benchmarks/run_overhead.py reads component durations from the run's console lines."""
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
    r = bench.parse_console(CONSOLE, wall=175.0)
    assert r["startup"] == 6.2
    assert (r["ImageExampleGen"], r["StatisticsGen"], r["Transform"]) == (2.5, 4.0, 8.5)
    assert (r["Evaluator"], r["ExportPusher"]) == (10.0, 50.0)
    assert "SchemaGen" not in r  # only the listed components
    assert r["fixed"] == pytest.approx(175.0 - 12.1 - 76.6)


def test_a_run_without_training_lines_is_an_error(bench):
    with pytest.raises(ValueError, match="Trainer"):
        bench.parse_console(CONSOLE.replace("Trainer ... done in 76.6 s", "Trainer ..."), 9.0)
