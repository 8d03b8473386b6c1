"""A run that fails leaves no execution NEW/RUNNING: the next run must not call it a killed one.

Real LocalDagRunner, real MLMD: the data tree passes the config's checks, then a file in it turns
into a dangling symbolic link (as if deleted while a run was being started), and ExampleGen's
driver fails on it."""
import os

import pytest
from ml_metadata.proto import metadata_store_pb2 as pb


def test_a_failed_runs_executions_are_cancelled_by_that_run(make_image_tree, tmp_path,
                                                            imagenet_weights_path):
    from pipeline.config import load_config
    from pipeline.local_runner import RunFailedError, run
    from pipeline.mlmd import open_store
    from pipeline.stale_executions import cancel_stale_executions

    tree = make_image_tree(per_class=2)
    config = load_config(overrides=[f"data.root={tree}", f"output.root={tmp_path / 'out'}"])
    victim = sorted((tree / "train" / "shirt").iterdir())[0]
    victim.unlink()
    os.symlink(tree / "deleted.png", victim)  # after the checks: only the driver sees it

    with pytest.raises(RunFailedError) as failed:
        run(config, quiet=True)
    assert "NotFoundError" in str(failed.value)

    store = open_store(config.metadata_path)
    executions = store.get_executions()
    assert executions, "the driver registered no execution: nothing was tested"
    assert not [e for e in executions
                if e.last_known_state in (pb.Execution.NEW, pb.Execution.RUNNING)]
    cancelled = [e for e in executions if e.last_known_state == pb.Execution.CANCELED]
    assert cancelled
    for e in cancelled:
        reason = e.custom_properties["cancel_reason"].string_value
        assert reason.startswith("the run failed (NotFoundError") and "killed" not in reason
    assert cancel_stale_executions(config.metadata_path) == []  # nothing left for the next run
