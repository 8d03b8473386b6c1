"""benchmarks/evaluator_cost.py: one real Evaluator measurement per variant in a fresh process,
and the table it prints; an unknown variant is refused before any work."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "evaluator_cost.py")


def _run(*args):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_prints_seconds_per_variant_and_the_extra_over_plain():
    out = _run("--examples", "60", "--classes", "3", "--reps", "1", "--variants",
               "plain,no_auc")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert "TFX Evaluator, 60 examples, 3 classes, 2 models (trivial), 1 reps:" in lines
    plain = next(line for line in lines if line.strip().startswith("plain"))
    no_auc = next(line for line in lines if line.strip().startswith("no_auc"))
    assert float(plain.split()[1]) > 0 and "extra over plain" not in plain
    assert "extra over plain" in no_auc


def test_an_unknown_variant_is_refused():
    out = _run("--variants", "plain,fast")
    assert out.returncode == 2 and "unknown ['fast']" in out.stderr
