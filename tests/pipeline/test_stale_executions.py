"""cancel_stale_executions on a real SQLite MLMD: what a SIGKILLed run leaves behind."""
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import CREATE, open_store
from pipeline.stale_executions import cancel_stale_executions


def _store(path):
    return open_store(str(path), CREATE)


def _execution_with_output(store, type_id, art_type, state, art_state):
    [eid] = store.put_executions([pb.Execution(type_id=type_id, last_known_state=state)])
    [aid] = store.put_artifacts([pb.Artifact(type_id=art_type, uri="/x", state=art_state)])
    store.put_events([pb.Event(execution_id=eid, artifact_id=aid, type=pb.Event.OUTPUT)])
    return eid, aid


def test_killed_executions_are_cancelled_and_their_outputs_abandoned(tmp_path):
    path = tmp_path / "metadata.sqlite"
    store = _store(path)
    trainer = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    model = store.put_artifact_type(pb.ArtifactType(name="Model"))
    killed = _execution_with_output(store, trainer, model, pb.Execution.RUNNING, pb.Artifact.PENDING)
    done = _execution_with_output(store, trainer, model, pb.Execution.COMPLETE, pb.Artifact.LIVE)
    [new] = store.put_executions([pb.Execution(type_id=trainer, last_known_state=pb.Execution.NEW)])

    cancelled = cancel_stale_executions(str(path))

    assert cancelled == [f"Trainer #{killed[0]}", f"Trainer #{new}"]
    by_id = {e.id: e for e in store.get_executions()}
    assert by_id[killed[0]].last_known_state == pb.Execution.CANCELED
    assert by_id[new].last_known_state == pb.Execution.CANCELED
    assert "killed" in by_id[killed[0]].custom_properties["cancel_reason"].string_value
    assert by_id[done[0]].last_known_state == pb.Execution.COMPLETE
    arts = {a.id: a for a in store.get_artifacts()}
    assert arts[killed[1]].state == pb.Artifact.ABANDONED
    assert arts[done[1]].state == pb.Artifact.LIVE
    assert cancel_stale_executions(str(path)) == []  # idempotent


def test_no_metadata_yet(tmp_path):
    assert cancel_stale_executions(str(tmp_path / "metadata.sqlite")) == []
    assert not (tmp_path / "metadata.sqlite").exists()
