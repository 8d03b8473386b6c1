"""Every installed file is hash-checked: each requirements/*.txt pins every package to one version
with sha256 hashes, and every pip install in the Makefile and the Dockerfile uses
--require-hashes (the project itself, an editable local tree, builds with the hash-checked
backend: --no-build-isolation). requirements/README.md says how to regenerate the files."""
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "requirements"
LOCKS = sorted(p.name for p in REQUIREMENTS.glob("*.txt"))
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)(\s*;[^-]*)?$")
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")


def requirement_problems(text):
    """[(line number, problem)] for a hash-pinned requirements file: every requirement exactly
    `name==version` (optionally with extras / a marker) with at least one --hash=sha256, and
    nothing else (no options such as --index-url, no URLs, no -r / -e)."""
    problems, logical, start = [], "", 0
    lines = text.splitlines()
    for number, raw in enumerate(lines + [""], 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not logical:
            start = number
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical = (logical + line).strip()
        if logical:
            parts = logical.split(" --hash")
            requirement = parts[0].strip()
            hashes = ["--hash" + h.strip() for h in parts[1:]]
            if not PIN.match(requirement):
                problems.append((start, f"not a name==version pin: {requirement!r}"))
            elif not hashes:
                problems.append((start, f"no --hash for {requirement}"))
            problems += [(start, f"{requirement}: not a sha256 hash: {h!r}")
                         for h in hashes if not HASH.match(h)]
        logical = ""
    return problems


def pins(name):
    out = {}
    for line in (REQUIREMENTS / name).read_text().splitlines():
        m = PIN.match(line.rstrip(" \\"))
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(3)
    return out


def test_the_lock_files_are_the_installed_ones():
    assert LOCKS == ["build.txt", "lint.txt", "litert-lock.txt", "lock.txt", "tfx.txt"]


@pytest.mark.parametrize("name", LOCKS)
def test_every_requirement_is_pinned_with_a_sha256(name):
    text = (REQUIREMENTS / name).read_text()
    assert requirement_problems(text) == [], name
    assert pins(name), name
    assert len(re.findall(r"--hash=sha256:", text)) >= len(pins(name))


@pytest.mark.parametrize("text,problem", [
    ("numpy==1.26.4\n", "no --hash for numpy==1.26.4"),
    ("numpy==1.26.4 \\\n    --hash=sha256:abc\n", "not a sha256 hash"),
    ("numpy>=1.26\n", "not a name==version pin"),
    ("--index-url https://example.org/simple\n", "not a name==version pin"),
    ("-e .\n", "not a name==version pin"),
    ("a==1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via x\nb==2\n", "no --hash for b==2"),
])
def test_a_line_without_a_hash_fails(text, problem):
    problems = requirement_problems(text)
    assert problems and problem in problems[-1][1], problems


def test_hashed_lines_pass_the_checker():
    text = ("# header\na[x]==1.0 ; python_version >= '3.11' \\\n    --hash=sha256:" + "a" * 64
            + " \\\n    --hash=sha256:" + "b" * 64 + "\n    # via -r requirements.in\n")
    assert requirement_problems(text) == []


def test_build_backend_and_tfx_pins():
    lock = pins("lock.txt")
    build = pins("build.txt")
    assert set(build) == {"setuptools", "wheel"}
    assert all(lock[name] == version for name, version in build.items()), (build, lock)
    assert pins("tfx.txt") == {"tfx": "1.16.0", "ml-pipelines-sdk": "1.16.0"}
    assert not {"tfx", "ml-pipelines-sdk"} & set(lock)


def _pip_installs(source):
    """Each `pip install` command of the Makefile / Dockerfile, as a list of words."""
    text = (REPO_ROOT / source).read_text().replace("\\\n", " ")
    pip = re.search(r"^PIP := (.+)$", text, re.M)
    if pip:
        text = text.replace("$(PIP)", pip.group(1))
    commands = []
    for line in text.splitlines():
        body = line.strip()
        if body.startswith("#") or body.startswith("PIP :="):
            continue
        if body.startswith("RUN "):
            body = body[4:]
        for command in body.split("&&"):
            words = command.split()
            if "pip" in words and "install" in words:
                commands.append(words)
    return commands


@pytest.mark.parametrize("source", ["Makefile", "Dockerfile"])
def test_every_pip_install_is_hash_checked(source):
    installs = _pip_installs(source)
    files = set()
    for words in installs:
        assert "--no-deps" in words, words
        if "-e" in words:  # the project itself: no single file to hash; built by the verified
            assert words[-2:] == ["-e", "."] and "--no-build-isolation" in words, words  # backend
            continue
        assert "--require-hashes" in words, words
        requirement_files = [w for i, w in enumerate(words) if i and words[i - 1] == "-r"]
        assert requirement_files and all(f.startswith("requirements/") for f in requirement_files)
        assert words[-2] == "-r", f"nothing but -r FILE to install: {words}"
        files.update(Path(f).name for f in requirement_files)
    # every lock is installed, nothing else is (the image has no linter: lint.txt is make's only)
    expected = set(LOCKS) if source == "Makefile" else set(LOCKS) - {"lint.txt"}
    assert files == expected, files
    # The builds of the lock's sdists (and of the project) use the hash-checked backend.
    lock_install = next(w for w in installs if "requirements/lock.txt" in w)
    assert "--no-build-isolation" in lock_install
    order = [next(Path(w[i + 1]).name for i in range(len(w) - 1) if w[i] == "-r")
             for w in installs if "-e" not in w]
    assert order.index("build.txt") < order.index("lock.txt")


def test_readme_says_how_to_regenerate_every_lock():
    readme = (REQUIREMENTS / "README.md").read_text()
    for name in LOCKS:
        header = (REQUIREMENTS / name).read_text().splitlines()[:2]
        command = header[1].lstrip("# ").strip()
        assert command.startswith("uv pip compile") and "--generate-hashes" in command, name
        assert name in readme and "--generate-hashes" in readme
