"""labkit.results: checkpointed results, stored through serializers in a store addressed by URL.

The "databacked" layer of the cell-pipeline planning doc: scientists stop caring about
file I/O, every result is checkpointed with its provenance, and moving from local to
remote storage is a change of one URL.

Examples
--------
>>> from labkit.results import OmeTiff, checkpoint
>>> @checkpoint("local_staging", target="normalized/{cell_id}.ome.tiff",
...             serializer=OmeTiff(dims="CZYX", channel_names=["dna", "membrane"]))  # doctest: +SKIP
... def normalize_cell(cell_id, cell_data):
...     ...
"""

from typing import Any

from labkit.results.checkpoint import Checkpointed, checkpoint
from labkit.results.manifest import Manifest
from labkit.results.result_store import ResultStore
from labkit.results.serializers import NgffLabels, Npy, OmeTiff, OmeZarr, Parquet, Png, Serializer
from labkit.results.versioned import Change, Commit, History, VersionedResultStore

__all__ = ["Change", "Checkpointed", "Commit", "History", "Manifest", "NgffLabels", "Npy", "OmeTiff", "OmeZarr",
           "Parquet", "Png", "ResultStore", "Serializer", "VersionedResultStore", "checkpoint"]


def __getattr__(name: str) -> Any:
    if name == "Dataset":  # a manifest of files, not an xarray.Dataset
        from labkit.errors import deprecated

        deprecated("labkit.results.Dataset", "labkit.results.Manifest")
        return Manifest
    raise AttributeError(f"module 'labkit.results' has no attribute {name!r}")
