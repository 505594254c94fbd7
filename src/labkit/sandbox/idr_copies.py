"""The sandbox's copies of IDR image 6001240 in the other NGFF versions the IDR publishes, shaped like IDR's.

IDR publishes the image three times (https://idr.github.io/ome-ngff-samples/):

* ``zarr/v0.1/6001240.zarr``: ``t, c, z, y, x``, zarr v2, one yx plane a chunk (the sandbox serves the real files);
* ``zarr/v0.4/idr0062A/6001240.zarr``: ``c, z, y, x`` (no time axis), zarr v2, levels 275 x 271, 137 x 135,
  68 x 67 (z kept), micrometre units, the study's expert labels under ``labels/0``;
* ``zarr/v0.5/idr0062A/6001240_labels.zarr``: ``c, z, y, x``, zarr v3, shards of 1 x 10 x 512 x 512 holding
  chunks of 1 x 1 x 256 x 256 (blosc zstd), and the expert labels (``labels/0``, int8, 61 nuclei, 4 levels,
  ``omero:roiId`` properties).

The v0.5 copy is written from the metadata of IDR's own files (``data/idr_v05_6001240_labels.zip``: the image's
``zarr.json`` files and its whole ``labels`` group, bytes as IDR serves them); its pixels are the v0.1 image's
(level 0 is identical to IDR's v0.5 level 0; IDR's v0.5 levels 1 and 2 were made by another downsampling, so
their values differ slightly). The v0.4 copy carries the same expert labels, written as NGFF 0.4.

Examples
--------
>>> copies = idr_copies(idr_image_path(), data_dir)  # doctest: +SKIP
>>> sorted(copies)  # doctest: +SKIP
['0.4', '0.5']
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import dask

from labkit import catalog

#: IDR's own metadata and labels of its v0.5 copy (see the README beside it)
V05_ARCHIVE = Path(__file__).parent / "data" / "idr_v05_6001240_labels.zip"
#: bump when the copies' layout changes: a copy written by an older labkit is rewritten
LAYOUT = "3"


def idr_copies(source: Path, data_dir: Path) -> dict[str, Path]:
    """NGFF 0.4 and 0.5 copies of the v0.1 image at ``source``, shaped like IDR's, made once in ``data_dir``.

    Returns ``{version: folder}``; the folder's name is the one IDR gives (``6001240.zarr``,
    ``6001240_labels.zarr``). Sandboxes starting at once (test workers) write them once (a lock in ``data_dir``).
    """
    import fcntl

    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "write.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _copies(source, data_dir)


def _copies(source: Path, data_dir: Path) -> dict[str, Path]:
    from labkit import _zarr, ngff

    out = {}
    for version, write in zip(ngff.WRITABLE, (_write_v04, _write_v05), strict=True):
        if ngff.zarr_format_of(version) == 3 and not _zarr.ZARR3:
            continue  # zarr format 3 needs zarr-python 3 (the itk profile runs zarr 2.18)
        name = catalog.IDR_IMAGE.zarr_url_of(version).rstrip("/").rsplit("/", 1)[-1]
        dest = data_dir / f"idr-v{version}" / name
        done = dest.parent / f".{name}.layout"
        if not (done.is_file() and done.read_text() == LAYOUT):
            with dask.config.set(scheduler="threads"):  # whatever cluster the caller has, this is local work
                write(source, dest)
            done.write_text(LAYOUT)
        out[version] = dest
    return out


def _v01_levels(source: Path) -> list[Any]:
    """The v0.1 image's levels as dask arrays without their time axis (``c, z, y, x``)."""
    import dask.array as da

    from labkit import _zarr
    from labkit.storage import open_store

    group = _zarr.open_group(open_store(source), mode="r")
    return [da.from_zarr(group[str(i)])[0] for i in range(3)]


def _real_v05() -> dict[str, bytes]:
    with zipfile.ZipFile(V05_ARCHIVE) as zf:
        return {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}


def _write_v05(source: Path, dest: Path) -> None:
    """IDR's v0.5 files: its metadata and labels as they are, the image's chunks written from the v0.1 pixels."""
    import shutil

    import zarr

    if dest.exists():
        shutil.rmtree(dest)
    for name, raw in _real_v05().items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    for i, level in enumerate(_v01_levels(source)):
        arr = zarr.open_array(dest / str(i), mode="r+")
        level.rechunk(arr.shards).store(arr, lock=False)  # whole shards per task (a shard is written once)


def _write_v04(source: Path, dest: Path) -> None:
    """IDR's v0.4 layout: ``c, z, y, x``, one yx plane a chunk, micrometre units, expert labels under ``labels/0``."""
    from labkit import _zarr, ngff

    group = _zarr.open_group(str(source), mode="r")
    meta = ngff.read(group)
    channels = list(meta.channels)
    axes = [ngff.Axis("c", "channel"), *(ngff.Axis(n, "space", "micrometer") for n in "zyx")]
    ngff.write_image(dest, _v01_levels(source), axes=axes, pixel_sizes=catalog.IDR_IMAGE.pixel_sizes,
                     channels=channels, version="0.4", name=meta.name, rdefs=meta.rdefs or None, overwrite=True)
    _write_v04_labels(dest)


def _write_v04_labels(dest: Path) -> None:
    """The expert labels of IDR's v0.5 copy, written as an NGFF 0.4 label image ``labels/0`` of ``dest``."""
    import tempfile

    from labkit import _zarr, ngff
    from labkit.ngff.labels import LABELS, label_path

    with tempfile.TemporaryDirectory() as tmp:
        for name, raw in _real_v05().items():
            if name.startswith(f"{LABELS}/"):
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / name).write_bytes(raw)
        attrs = ngff.labels.converted_label_attrs(_zarr.local_attributes(Path(tmp) / label_path("0")), "0.4")
        root = _zarr.open_group(str(dest), mode="r+", zarr_format=ngff.zarr_format_of("0.4"))
        labels = root.require_group(LABELS)
        labels.attrs.update(ngff.labels.labels_attrs("0.4", ["0"]))
        label = labels.require_group("0")
        for path in ngff.spec.dataset_paths(attrs):
            data = _zarr.read_local_v3_array(Path(tmp) / label_path("0") / path)
            # 64 planes a chunk (IDR's own v0.4 label chunks are not recorded; its v0.5 ones hold 10-59 planes)
            arr = _zarr.create_array(label, path, shape=data.shape, dtype=data.dtype, chunks=(1, 64) + data.shape[2:])
            arr[...] = data
        label.attrs.update(attrs)
