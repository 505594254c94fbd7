"""What each file of a package is: its ``encodingFormat`` (a MIME type, with a PRONOM entry where there is one).

RO-Crate describes a file's format by a MIME type and, for archives, a PRONOM format identifier; a
specification the file follows (OME-XML inside an OME-TIFF, OME-NGFF for an OME-Zarr folder) is its
``conformsTo``. The table here is the one home of those facts in labkit.

Examples
--------
>>> file_format("cells/1.ome.tiff").mime
'image/tiff'
>>> file_format("cells/1.ome.tiff").conforms_to
'http://www.openmicroscopy.org/Schemas/OME/2016-06'
>>> file_format("table.parquet").mime
'application/vnd.apache.parquet'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkit._zarr import METADATA_FILES

PRONOM = "https://www.nationalarchives.gov.uk/PRONOM/"


@dataclass(frozen=True)
class Format:
    """A file format: MIME type, PRONOM identifier and name (when PRONOM has one), specification followed."""

    mime: str
    pronom: str | None = None
    name: str | None = None
    conforms_to: str | None = None

    def encoding_format(self) -> str | list[Any]:
        """The value of ``encodingFormat``: the MIME type, and a reference to the PRONOM entry when known."""
        return [self.mime, {"@id": PRONOM + self.pronom}] if self.pronom else self.mime


#: suffix (longest match wins) -> format
FORMATS: dict[str, Format] = {
    ".ome.tiff": Format("image/tiff", "fmt/353", "Tagged Image File Format",
                        "http://www.openmicroscopy.org/Schemas/OME/2016-06"),
    ".ome.tif": Format("image/tiff", "fmt/353", "Tagged Image File Format",
                       "http://www.openmicroscopy.org/Schemas/OME/2016-06"),
    ".tiff": Format("image/tiff", "fmt/353", "Tagged Image File Format"),
    ".tif": Format("image/tiff", "fmt/353", "Tagged Image File Format"),
    ".png": Format("image/png", "fmt/13", "Portable Network Graphics 1.2"),
    ".parquet": Format("application/vnd.apache.parquet"),
    ".npy": Format("application/octet-stream",
                   conforms_to="https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html"),
    ".json": Format("application/json", "fmt/817", "JSON Data Interchange Format"),
    ".csv": Format("text/csv", "x-fmt/18", "Comma Separated Values"),
    ".md": Format("text/markdown"),
    ".txt": Format("text/plain"),
    ".ipynb": Format("application/x-ipynb+json"),
    # the metadata files of a Zarr folder
    **dict.fromkeys(METADATA_FILES, Format("application/json", "fmt/817", "JSON Data Interchange Format")),
}
UNKNOWN = Format("application/octet-stream")
#: suffixes of folders that are one dataset each (a Dataset entity with its files)
FOLDER_SUFFIXES = (".ome.zarr", ".zarr")
NGFF = "https://ngff.openmicroscopy.org/{version}"


def file_format(name: str) -> Format:
    """The format of a file, from its name (chunks of a Zarr array and unknown suffixes: octet-stream)."""
    lower = name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if lower.endswith(suffix):
            return FORMATS[suffix]
    return UNKNOWN


def folder_of(name: str) -> str | None:
    """The dataset folder (``x.ome.zarr``, ``a/b.zarr``) holding ``name``, or ``None`` when it is in none.

    Examples
    --------
    >>> folder_of("labels/1.ome.zarr/0/c/0/0/0")
    'labels/1.ome.zarr'
    >>> folder_of("cells/1.png") is None
    True
    """
    parts = name.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.lower().endswith(FOLDER_SUFFIXES):
            return "/".join(parts[: i + 1])
    return None
