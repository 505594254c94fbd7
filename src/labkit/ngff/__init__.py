"""OME-NGFF metadata, v0.1 to v0.5: read into one model, written as v0.4 (zarr v2) or v0.5 (zarr v3).

The one home of the image format: every NGFF metadata dict labkit reads or writes is built or parsed here,
one module a kind (zarr's own keys and files are :mod:`labkit._zarr`'s):

* :mod:`~labkit.ngff.spec`: versions, the ``ome`` section, axes, coordinate transforms;
* :mod:`~labkit.ngff.model`, :mod:`~labkit.ngff.image`: the :class:`Multiscale` model, :func:`read`,
  :func:`write_image`, :func:`convert`; :mod:`~labkit.ngff.omero` (channel colours, display windows) and
  :mod:`~labkit.ngff.shards` (:func:`default_shards`);
* :mod:`~labkit.ngff.labels`: label images (``labels``, ``image-label``: colours, properties, source);
* :mod:`~labkit.ngff.plate`: HCS plates and wells, and what a group that holds images but is none is;
* :mod:`~labkit.ngff.tables`: feature tables as Fractal and ngio keep them.

The units of an image's axes, once it is opened as an ``xarray.DataArray``, are read by one function,
:func:`voxel_size` (from :mod:`labkit.units`, which this package owns: it imports no I/O, so analysis modules
import it directly).

Examples
--------
>>> import numpy as np, zarr
>>> img = np.zeros((2, 4, 32, 32), np.uint16)
>>> ms = write_image("/tmp/doc.ome.zarr", img, axes="czyx", pixel_sizes={"z": 0.5, "y": 0.2, "x": 0.2},
...                  channel_names=["a", "b"], version="0.5", n_levels=2, overwrite=True)
>>> [lv.shape for lv in ms.levels], ms.levels[1].scale
([(2, 4, 32, 32), (2, 4, 16, 16)], (1.0, 0.5, 0.4, 0.4))
"""

from __future__ import annotations

from labkit.ngff import labels, plate, tables  # noqa: F401 - the metadata modules, as labkit.ngff.labels ...

# the private names of the single-module labkit.ngff (labkit's modules and tests use some)
from labkit.ngff.image import (  # noqa: F401, E402
    _default_name,
    _labkit_version,
    _store_array,
    convert,
    copied_image_attrs,
    image_attrs,
    multiscale_json,
    read,
    read_array,
    validate,
    write_image,
)
from labkit.ngff.model import Channel, Level, Multiscale
from labkit.ngff.omero import (  # noqa: F401, E402
    DEFAULT_COLORS,
    OMERO,
    PALETTE,
    STAIN_COLORS,
    _channel_json,
    _channels,
    _window,
    channel_colors,
    display_windows,
    rounded_window,
)
from labkit.ngff.plate import container_hint
from labkit.ngff.shards import SHARD_BYTES, SHARD_THRESHOLD, _level_chunks, _nbytes, default_shards  # noqa: F401, E402
from labkit.ngff.spec import (  # noqa: F401, E402
    _TYPES,
    CHANNEL,
    SPACE,
    TIME,
    VERSIONS,
    WRITABLE,
    Axis,
    _axes,
    _axis_json,
    _transforms,
    ome_attributes,
    ome_section,
    zarr_format_of,
)
from labkit.units import VoxelSize, unit_name, voxel_size  # noqa: F401 - the one rule for units, owned here

__all__ = [
    "CHANNEL", "DEFAULT_COLORS", "OMERO", "PALETTE", "SHARD_BYTES", "SHARD_THRESHOLD", "SPACE", "STAIN_COLORS",
    "TIME", "VERSIONS", "WRITABLE", "Axis", "Channel", "Level", "Multiscale", "VoxelSize", "channel_colors",
    "container_hint", "convert", "copied_image_attrs", "default_shards", "display_windows", "image_attrs",
    "multiscale_json", "ome_attributes", "ome_section", "read", "read_array", "rounded_window", "unit_name",
    "validate", "voxel_size", "write_image", "zarr_format_of",
]
