"""The one place the project opens the local MLMD store (SQLite, `<output root>/metadata.sqlite`)."""
from __future__ import annotations

from typing import Optional

READONLY, READWRITE, CREATE = "readonly", "readwrite", "create"
SPAN = "span"


def open_store(metadata_path: str, mode: str = READONLY):
    """An ml_metadata MetadataStore over the SQLite file. mode: 'readonly' (summaries, reports,
    lineage), 'readwrite' (the file must exist: recovery after a killed run) or 'create'."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    modes = metadata_store_pb2.SqliteMetadataSourceConfig
    connection = {READONLY: modes.READONLY, READWRITE: modes.READWRITE,
                  CREATE: modes.READWRITE_OPENCREATE}
    if mode not in connection:
        raise ValueError(f"MLMD mode {mode!r}: expected one of {', '.join(connection)}")
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = connection[mode]
    return metadata_store.MetadataStore(cfg)


def span_of(artifact) -> Optional[int]:
    """An MLMD artifact's `span` custom property as an int (TFX writes an int; older stores a
    string), or None when it has none. Span 0 is a span."""
    value = artifact.custom_properties.get(SPAN)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind == "int_value":
        return value.int_value
    if kind == "string_value" and value.string_value.strip():
        return int(value.string_value)
    return None
