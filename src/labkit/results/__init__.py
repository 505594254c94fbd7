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

from labkit.results.checkpoint import Checkpointed, checkpoint
from labkit.results.dataset import Dataset
from labkit.results.serializers import Npy, OmeTiff, OmeZarr, Parquet, Png, Serializer
from labkit.results.store import ResultStore

__all__ = ["Checkpointed", "Dataset", "Npy", "OmeTiff", "OmeZarr", "Parquet", "Png", "ResultStore", "Serializer",
           "checkpoint"]
