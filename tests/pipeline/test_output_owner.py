"""Two data sets with the same folder name never share a default output root
(pipeline/config/output_owner.py): the first run records its data root there, another folder of
that name gets outputs/<name>-<hash> with a note, the same folder (also through a link repointed
to new data, or in a moved project) keeps its root, and an explicit output.root is used as
given."""
import os

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.config import schema
from pipeline.config.output_owner import OWNER_FILE, owner
from pipeline.config.validate import config_notes
from pipeline.local_runner import claim_output_root


@pytest.fixture
def _tree(image_helpers):
    """_tree(root): a 2-class train/eval tree of small PNGs at `root`."""
    return lambda root: image_helpers.png_tree(root, ("cat", "dog"))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The project root (where outputs/ is) moved into tmp_path."""
    monkeypatch.setattr(schema, "REPO_ROOT", tmp_path / "project")
    return tmp_path / "project"


def test_another_folder_of_the_same_name_gets_its_own_output_root(tmp_path, project, _tree):
    first = _tree(tmp_path / "a" / "photos")
    second = _tree(tmp_path / "b" / "photos")
    one = load_config(overrides=[f"data.root={first}"])
    assert one.output_root == str(project / "outputs" / "photos")
    claim_output_root(one, one.output_root)
    assert owner(one.output_root) == str(first)
    assert not config_notes(one)

    two = load_config(overrides=[f"data.root={second}"])
    assert two.output_root.startswith(str(project / "outputs" / "photos-"))
    assert len(os.path.basename(two.output_root)) == len("photos-") + 8
    assert two.serving_dir != one.serving_dir and two.metadata_path != one.metadata_path
    [note] = [n for n in config_notes(two) if "another data set" in n]
    assert note.startswith(f"{one.output_root} holds the outputs of another data set with this "
                           f"folder name ({first}), so this one's ({second}) go to "
                           f"{two.output_root}")
    claim_output_root(two, two.output_root)
    assert owner(two.output_root) == str(second)
    assert load_config(overrides=[f"data.root={first}/"]).output_root == one.output_root
    assert load_config(overrides=[f"data.root={second}"]).output_root == two.output_root


def test_a_link_repointed_to_new_data_and_a_moved_project_keep_their_root(tmp_path, project, _tree):
    """Links are not resolved (data/current -> v2 after v1 is the same data set), and a data
    root inside the project is recorded relative to it (a moved or re-cloned project keeps its
    outputs)."""
    v1, v2 = _tree(tmp_path / "v1"), _tree(tmp_path / "v2")
    (project / "data").mkdir(parents=True)
    os.symlink(v1, project / "data" / "current")
    config = load_config(overrides=[f"data.root={project / 'data' / 'current'}"])
    claim_output_root(config, config.output_root)
    assert owner(config.output_root) == os.path.join("data", "current")
    os.unlink(project / "data" / "current")
    os.symlink(v2, project / "data" / "current")
    assert load_config(overrides=[f"data.root={project / 'data' / 'current'}"]
                       ).output_root == config.output_root
    moved = tmp_path / "moved"
    project.rename(moved)
    schema.REPO_ROOT = moved  # restored by the fixture's monkeypatch
    again = load_config(overrides=[f"data.root={moved / 'data' / 'current'}"])
    assert again.output_root == str(moved / "outputs" / "current")


def test_a_run_refuses_a_root_claimed_by_another_data_set_after_its_lock(tmp_path, project, _tree):
    first = _tree(tmp_path / "a" / "photos")
    second = _tree(tmp_path / "b" / "photos")
    config = load_config(overrides=[f"data.root={first}"])
    locked = config.output_root
    claim_output_root(load_config(overrides=[f"data.root={second}"]), locked)  # got there first
    with pytest.raises(ConfigError, match="was claimed by another data set"):
        claim_output_root(config, locked)


def test_a_root_without_a_record_is_claimed_by_its_next_run(tmp_path, project, _tree):
    """Output roots made before the record existed: the next run's data set owns them."""
    data = _tree(tmp_path / "photos")
    (project / "outputs" / "photos").mkdir(parents=True)
    config = load_config(overrides=[f"data.root={data}"])
    assert config.output_root == str(project / "outputs" / "photos")
    claim_output_root(config, config.output_root)
    assert (project / "outputs" / "photos" / OWNER_FILE).read_text() == f"{data}\n"
    claim_output_root(config, config.output_root)  # idempotent
    assert owner(config.output_root) == str(data)


def test_an_explicit_output_root_is_used_as_given_and_not_claimed(tmp_path, project, _tree):
    first = _tree(tmp_path / "a" / "photos")
    second = _tree(tmp_path / "b" / "photos")
    first_config = load_config(overrides=[f"data.root={first}"])
    claim_output_root(first_config, first_config.output_root)
    shared = load_config(overrides=[f"data.root={second}",
                                    f"output.root={project / 'outputs' / 'photos'}"])
    assert shared.output_root == str(project / "outputs" / "photos")  # the user says so
    assert not [n for n in config_notes(shared) if "another data set" in n]
    own = tmp_path / "mine"
    mine = load_config(overrides=[f"data.root={second}", f"output.root={own}"])
    claim_output_root(mine, mine.output_root)
    assert not (own / OWNER_FILE).exists()
