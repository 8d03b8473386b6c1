"""Loads a benchmark script (benchmarks/<name>.py) as a module for its tests."""
import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_benchmark(name: str):
    """benchmarks/<name>.py imported as `benchmark_<name>` (registered in sys.modules: its
    dataclasses look their module up)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}",
                                                  os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def benchmark_module():
    """load_benchmark, for a module-scoped fixture of a test file."""
    return load_benchmark
