"""Installs the project's packages (dependencies come from requirements/lock.txt, see Makefile)."""
from setuptools import find_packages, setup

setup(
    name="tfx-image-classifier",
    version="0.1.0",
    description="TFX pipeline components for pruned, TFLite-converted VGG16 image classifiers",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "modules", "modules.*"]),
    # non-Python files read at run time (importlib.resources), installed with their packages
    package_data={"components.export_pusher.report": ["*.j2"]},
    entry_points={"console_scripts": ["image-pipeline=pipeline.__main__:main"]},
)
