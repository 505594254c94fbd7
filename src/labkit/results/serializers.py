"""Serializers: how a result is stored in a :class:`~labkit.results.ResultStore` and comes back as the same type.

Each knows its file suffix, the Python types it accepts, and how to ``save``, ``load`` and
tell whether a finished result ``exists`` in a store: single-file formats through
``dumps``/``loads`` (bytes), folders (OME-Zarr) through their own writer. Output is
deterministic (the same data gives the same bytes), so local and S3 runs can be compared
byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import ConfigurationError, FormatError, IntegrityError

if TYPE_CHECKING:
    from labkit.results.result_store import ResultStore


def _as_numpy(obj: Any) -> np.ndarray:
    if hasattr(obj, "compute"):  # dask or lazy xarray
        obj = obj.compute()
    return np.asarray(obj)


class Serializer:
    """Base class: ``dumps`` an object to bytes, ``loads`` bytes back to the same type.

    ``save``, ``load`` and ``exists`` put those bytes in a store as one object, written
    atomically; a serializer that writes something else (a folder) overrides the three.
    """

    suffix: ClassVar[str] = ""
    kind: ClassVar[str] = "array"  # what it stores, for error messages

    def accepts(self, obj: Any) -> bool:
        """Whether ``obj`` can be stored by this serializer."""
        return hasattr(obj, "shape") and hasattr(obj, "dtype")

    def check(self, obj: Any) -> None:
        """Raise a clear error when ``obj`` cannot be stored."""
        dims = getattr(self, "dims", None)
        if dims and hasattr(obj, "shape") and hasattr(obj, "dtype") and len(obj.shape) != len(dims):
            raise FormatError(
                f"{type(self).__name__}(dims={dims!r}) stores {len(dims)}-D arrays, got shape {tuple(obj.shape)}: "
                f"pass {type(self).__name__}(dims=...) with one letter per dimension"
            )
        if not self.accepts(obj):
            choices = sorted({f"{type(s).__name__} ({s.kind}s)" for s in SUFFIXES.values()})
            raise FormatError(
                f"{type(self).__name__} stores {self.kind}s and cannot store a {type(obj).__name__}; "
                f"use one of: {', '.join(choices)}"
            )

    def save(self, store: ResultStore, name: str, obj: Any) -> str | None:
        """Store ``obj`` as ``name``; return the SHA-256 of what was written (``None`` when not one object)."""
        data = self.dumps(obj)
        store.write_bytes(name, data)
        return hashlib.sha256(data).hexdigest()

    def load(self, store: ResultStore, name: str, sha256: str | None = None) -> Any:
        """Read ``name`` back, checked against ``sha256`` when given.

        Raises :class:`labkit.errors.NotFoundError` when it is not there and
        :class:`labkit.errors.IntegrityError` when its bytes are not those recorded.
        """
        data = store.read_bytes(name)
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(
                f"{store.url_of(name)} was changed after it was written: its SHA-256 is not the one its provenance "
                "recorded"
            )
        return self.loads(data)

    def exists(self, store: ResultStore, name: str) -> bool:
        """Whether a finished ``name`` is in the store."""
        return store.exists(name)

    def dumps(self, obj: Any) -> bytes:  # pragma: no cover - abstract
        """Encode ``obj``."""
        raise NotImplementedError

    def loads(self, data: bytes) -> Any:  # pragma: no cover - abstract
        """Decode bytes written by :meth:`dumps`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Npy(Serializer):
    """NumPy's ``.npy`` (any array, exact)."""

    suffix = ".npy"

    def dumps(self, obj: Any) -> bytes:
        """Encode an array."""
        buf = io.BytesIO()
        np.save(buf, _as_numpy(obj), allow_pickle=False)
        return buf.getvalue()

    def loads(self, data: bytes) -> np.ndarray:
        """Decode an array."""
        return np.load(io.BytesIO(data), allow_pickle=False)


class OmeTiff(Serializer):
    """OME-TIFF with valid OME-XML: axes, channel names and physical pixel sizes.

    Parameters
    ----------
    dims : str
        Axes of the arrays it stores, e.g. ``"CZYX"`` (letters of TCZYXS).
    channel_names : sequence of str, optional
    physical_sizes : mapping, optional
        Pixel size in micrometres per spatial axis, e.g. ``{"z": 0.5, "y": 0.36, "x": 0.36}``.

    Examples
    --------
    >>> ser = OmeTiff(dims="CZYX", channel_names=["dna", "membrane"])
    >>> arr = np.zeros((2, 3, 8, 8), np.uint16)
    >>> ser.loads(ser.dumps(arr)).shape
    (2, 3, 8, 8)
    """

    suffix = ".ome.tiff"

    def __init__(self, dims: str = "CZYX", channel_names: Sequence[str] | None = None,
                 physical_sizes: Mapping[str, float] | None = None) -> None:
        dims = dims.upper()
        if set(dims) - set("TCZYXS") or len(set(dims)) != len(dims):
            raise ConfigurationError(f"dims must be distinct letters of TCZYXS, not {dims!r}")
        self.dims = dims
        self.channel_names = list(channel_names) if channel_names is not None else None
        self.physical_sizes = {k.lower(): float(v) for k, v in (physical_sizes or {}).items()}

    def accepts(self, obj: Any) -> bool:
        """Arrays with as many dimensions as ``dims``."""
        return super().accepts(obj) and len(obj.shape) == len(self.dims)

    def check(self, obj: Any) -> None:
        """Clear errors for non-arrays, wrong dimensions and channel counts."""
        super().check(obj)
        if self.channel_names is not None and "C" in self.dims:
            n_c = obj.shape[self.dims.index("C")]
            if n_c != len(self.channel_names):
                raise FormatError(f"{plural(len(self.channel_names), 'channel name')} for {plural(n_c, 'channel')}")

    def dumps(self, obj: Any) -> bytes:
        """Encode an array as OME-TIFF (the OME UUID is derived from the content, so bytes are reproducible)."""
        tifffile = attempt_import("tifffile")
        data = _as_numpy(obj)
        self.check(data)
        digest = hashlib.sha256(data.tobytes() + repr((data.shape, str(data.dtype), self.dims)).encode()).digest()
        meta: dict[str, Any] = {"axes": self.dims, "UUID": f"urn:uuid:{uuid.UUID(bytes=digest[:16], version=5)}"}
        if self.channel_names is not None:
            meta["Channel"] = {"Name": self.channel_names}
        for axis, size in self.physical_sizes.items():
            meta[f"PhysicalSize{axis.upper()}"] = size
            meta[f"PhysicalSize{axis.upper()}Unit"] = "µm"
        buf = io.BytesIO()
        tifffile.imwrite(buf, data, ome=True, metadata=meta, photometric="minisblack", software="labkit")
        return buf.getvalue()

    def loads(self, data: bytes) -> np.ndarray:
        """Decode the pixel array, with the shape it was written with (size-1 axes kept)."""
        tifffile = attempt_import("tifffile")
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            series = tif.series[0]
            arr, axes = series.asarray(), series.axes  # size-1 axes squeezed (tifffile >= 2025 squeezes always)
        if not set(axes) <= set(self.dims):
            return arr  # written with other axes (by another tool): as tifffile reads it
        missing = [a for a in self.dims if a not in axes]  # the size-1 axes, put back
        arr = arr.reshape(arr.shape + (1,) * len(missing))
        return arr.transpose([(axes + "".join(missing)).index(a) for a in self.dims])

    def __repr__(self) -> str:
        return f"OmeTiff(dims={self.dims!r}, channel_names={self.channel_names!r})"


class Png(Serializer):
    """PNG of a 2D image (grey) or an RGB(A) image, 8 bit.

    Parameters
    ----------
    contrast : (low, high), optional
        Values mapped to 0 and 255. Default: the data's 0.1 and 99.9 percentiles
        (uint8 data is written as it is).
    """

    suffix = ".png"

    def __init__(self, contrast: tuple[float, float] | None = None) -> None:
        self.contrast = contrast

    def accepts(self, obj: Any) -> bool:
        """2D arrays, or 3D with 3 or 4 colour samples last."""
        return super().accepts(obj) and (len(obj.shape) == 2 or (len(obj.shape) == 3 and obj.shape[-1] in (3, 4)))

    def check(self, obj: Any) -> None:
        """Clear error for arrays that are not images."""
        if super().accepts(obj) and not self.accepts(obj):
            raise FormatError(f"Png stores 2D or RGB(A) images; got shape {obj.shape} (project or select a plane)")
        super().check(obj)

    def to_uint8(self, data: np.ndarray) -> np.ndarray:
        """The 8-bit image that would be written."""
        if data.dtype == np.uint8 and self.contrast is None:
            return data
        lo, hi = self.contrast if self.contrast else np.percentile(data, (0.1, 99.9))
        scaled = (data.astype(np.float64) - lo) / max(float(hi - lo), 1e-12)
        return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)

    def dumps(self, obj: Any) -> bytes:
        """Encode an image."""
        from PIL import Image

        data = _as_numpy(obj)
        self.check(data)
        buf = io.BytesIO()
        Image.fromarray(self.to_uint8(data)).save(buf, format="PNG", optimize=False)
        return buf.getvalue()

    def loads(self, data: bytes) -> np.ndarray:
        """Decode to a uint8 array."""
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)))


class Parquet(Serializer):
    """Apache Parquet for tables (pandas DataFrames)."""

    suffix = ".parquet"
    kind = "table"

    def accepts(self, obj: Any) -> bool:
        """Pandas DataFrames."""
        pd = attempt_import("pandas")
        return isinstance(obj, pd.DataFrame)

    def dumps(self, obj: Any) -> bytes:
        """Encode a DataFrame."""
        self.check(obj)
        buf = io.BytesIO()
        obj.to_parquet(buf, index=True)
        return buf.getvalue()

    def loads(self, data: bytes) -> Any:
        """Decode a DataFrame."""
        pd = attempt_import("pandas")
        return pd.read_parquet(io.BytesIO(data))


class OmeZarr(Serializer):
    """OME-Zarr (NGFF 0.4 or 0.5, through :mod:`labkit.ngff`): a folder, not a single file.

    A folder cannot appear at once in an object store: it is finished when its group
    metadata (``.zattrs`` for 0.4, ``zarr.json`` for 0.5), written last, is there.

    Parameters
    ----------
    dims : str
        Axes, e.g. ``"czyx"``.
    channel_names, physical_sizes : optional
        As for :class:`OmeTiff`.
    version : {"0.4", "0.5"}, optional
        Default: ``"0.4"`` (zarr v2) in a plain store, ``"0.5"`` in a versioned one, which holds zarr v3 only.

    Examples
    --------
    >>> from labkit.results import ResultStore
    >>> store, ser = ResultStore("memory://doc-omezarr"), OmeZarr(dims="zyx", version="0.5")
    >>> ser.save(store, "a.ome.zarr", np.ones((2, 8, 8), np.uint8))
    >>> ser.exists(store, "a.ome.zarr"), ser.load(store, "a.ome.zarr").shape
    (True, (2, 8, 8))
    """

    suffix = ".ome.zarr"

    def __init__(self, dims: str = "czyx", channel_names: Sequence[str] | None = None,
                 physical_sizes: Mapping[str, float] | None = None, version: str | None = None) -> None:
        self.dims = dims.lower()
        self.channel_names = channel_names
        self.physical_sizes = physical_sizes
        self.version = version

    def accepts(self, obj: Any) -> bool:
        """Arrays with as many dimensions as ``dims``."""
        return super().accepts(obj) and len(obj.shape) == len(self.dims)

    def version_in(self, store: ResultStore) -> str:
        """The NGFF version written to ``store``: the one given, else the newest the store holds by default."""
        from labkit import ngff

        if self.version is None:
            return ngff.spec.version_of_format(2 if 2 in store.zarr_formats else 3)
        if ngff.zarr_format_of(self.version) == 2 and 2 not in store.zarr_formats:
            raise FormatError(f"{store!r} holds zarr v3 only, and OME-NGFF 0.4 is zarr v2: use OmeZarr(version='0.5')"
                              " (or leave version out)")
        return self.version

    def save(self, store: ResultStore, name: str, obj: Any) -> None:
        """Write ``obj`` as an OME-Zarr group ``name`` of the store (no single digest: returns ``None``)."""
        from labkit import ngff

        self.check(obj)
        version = self.version_in(store)
        ngff.write_image(store.zarr_location(name, mode="w"), _as_numpy(obj), axes=self.dims,
                         channel_names=self.channel_names, pixel_sizes=self.physical_sizes, version=version,
                         overwrite=True, storage_options=store.storage_options, name=ngff._default_name(name))

    def load(self, store: ResultStore, name: str, sha256: str | None = None) -> np.ndarray:
        """Read level 0 back as a numpy array (zarr directly, with the store's credentials).

        A folder has no single digest (``sha256`` is not used): it is finished when its group metadata,
        written last, is there, and its provenance record after it.
        """
        from labkit import ngff

        return ngff.read_array(store.zarr_location(name), storage_options=store.storage_options)

    def exists(self, store: ResultStore, name: str) -> bool:
        """Whether the group's metadata, written last, is there."""
        from labkit import _zarr, ngff

        return store.exists(_zarr.attrs_key(name, ngff.zarr_format_of(self.version_in(store))))

    def __repr__(self) -> str:
        return f"OmeZarr(dims={self.dims!r}, channel_names={self.channel_names!r}, version={self.version!r})"


#: serializer chosen from a target's suffix when none is given
class NgffLabels(Serializer):
    """A label image as the OME-NGFF labels of an image (:func:`labkit.write_labels`): a folder.

    The target is an OME-Zarr image. With ``image`` (a read-only source such as IDR's S3), the target becomes
    a copy of that image holding the labels, which records where the image came from. A lazy label image
    (e.g. from :func:`labkit.segment_nuclei`) is computed block by block as it is written, with the current
    Dask scheduler or cluster; it loads back lazily (:func:`labkit.open_labels`).

    Parameters
    ----------
    name : str
        The labels' name (``labels/<name>``).
    image : str, optional
        The source image when the target is not the image itself.
    image_storage_options : mapping, optional
        Options to read ``image`` (e.g. ``{"endpoint_url": ...}``).
    table : bool
        The result is ``(labels, table)``, the labels and their measurement table (one row per label, e.g.
        :func:`labkit.measure`): the table becomes the labels' properties and the image's feature table
        ``tables/<name>`` (as Fractal and ngio read it, :func:`labkit.open_table`); it loads back as
        ``(labels, table)``.

    Examples
    --------
    >>> from labkit.results import checkpoint
    >>> @checkpoint("results", target="{image_id}.ome.zarr",
    ...             serializer=NgffLabels("nuclei", image="s3://idr/zarr/v0.1/6001240.zarr"))  # doctest: +SKIP
    ... def nuclei(image_id):
    ...     return labkit.segment_nuclei(volume)
    """

    kind = "label image"

    def __init__(self, name: str = "nuclei", image: str | None = None,
                 image_storage_options: Mapping[str, Any] | None = None, *, table: bool = False) -> None:
        self.name = name
        self.image = image
        self.image_storage_options = dict(image_storage_options or {})
        self.table = table
        if table:
            self.kind = "(label image, table) pair"

    def accepts(self, obj: Any) -> bool:
        """Integer arrays (numpy, dask or xarray); with ``table=True``, ``(labels, DataFrame)`` pairs."""
        if self.table:
            return (isinstance(obj, tuple) and len(obj) == 2 and self._labels(obj[0])
                    and hasattr(obj[1], "columns"))
        return self._labels(obj)

    def _labels(self, obj: Any) -> bool:
        return super().accepts(obj) and np.dtype(obj.dtype).kind in "iu"

    def check(self, obj: Any) -> None:
        """A clear error for what it cannot store (a table without ``table=True`` says how)."""
        if not self.table and isinstance(obj, tuple) and len(obj) == 2 and hasattr(obj[1], "columns"):
            raise FormatError(f"{self!r} stores label images; for (labels, table) results pass "
                              f"NgffLabels({self.name!r}, table=True)")
        if self.table and not self.accepts(obj):
            raise FormatError(f"{self!r} stores (labels, table) pairs (an integer label image and a DataFrame with "
                              f"a 'label' column), not a {type(obj).__name__}: return (labels, labkit.measure(labels, "
                              "image)), or pass table=False for labels alone")
        super().check(obj)

    def save(self, store: ResultStore, name: str, obj: Any) -> None:
        """Write the labels (computing them block by block) and their table; no single digest (a folder)."""
        from labkit.labels import write_labels

        self.check(obj)
        labels, table = obj if self.table else (obj, None)
        write_labels(store.zarr_location(name, mode="w"), labels, self.name, image=self.image, overwrite=True,
                     properties=table, version=None if 2 in store.zarr_formats or self.image is None else "0.5",
                     storage_options=store.storage_options, image_storage_options=self.image_storage_options)

    def load(self, store: ResultStore, name: str, sha256: str | None = None) -> Any:
        """The labels, lazily, aligned with the image (:func:`labkit.open_labels`); with their table if ``table``."""
        from labkit.labels import open_labels

        labels = open_labels(store.zarr_location(name), self.name, storage_options=store.storage_options)
        written = labels.attrs["written_dims"]
        if written is None:  # not recorded (written before labkit recorded it): a time point's t of size 1
            written = [d for d in labels.dims if not (d == "t" and labels.sizes[d] == 1)]
        added = [d for d in labels.dims if d not in written]  # the image's axes of size 1, e.g. its t
        labels = labels.isel(dict.fromkeys(added, 0)) if added else labels  # as the result was returned
        if not self.table:
            return labels
        from labkit.tables import open_table

        return labels, open_table(store.zarr_location(name), self.name, storage_options=store.storage_options)

    def exists(self, store: ResultStore, name: str) -> bool:
        """Whether the image lists the labels (done last, once they are written)."""
        from labkit.labels import label_names

        try:
            return self.name in label_names(store.zarr_location(name), store.storage_options)
        except (FileNotFoundError, FormatError):
            return False

    def __repr__(self) -> str:
        return f"NgffLabels({self.name!r}, image={self.image!r}{', table=True' if self.table else ''})"


SUFFIXES: dict[str, Serializer] = {
    ".ome.tiff": OmeTiff(dims="CZYX"),
    ".ome.tif": OmeTiff(dims="CZYX"),
    ".ome.zarr": OmeZarr(),
    ".png": Png(),
    ".npy": Npy(),
    ".parquet": Parquet(),
}


def for_target(name: str) -> Serializer:
    """The default serializer for a target name, from its suffix.

    Examples
    --------
    >>> for_target("cells/12.png")
    Png()
    """
    for suffix, ser in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.lower().endswith(suffix):
            return ser
    raise ConfigurationError(
        f"no serializer for the target {name!r}: pass serializer=... or use one of the suffixes {sorted(SUFFIXES)}"
    )
