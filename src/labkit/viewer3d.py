"""A 3D view of a volume in JupyterLab, offline: neuroglancer's client, served by this kernel on 127.0.0.1.

The neuroglancer wheel bundles its web client; :class:`VolumeView` serves the client and the volume's chunks
from this process (only the chunks on screen are read, lower resolutions are made on the fly), and shows it
in an ``<iframe>``. Nothing is fetched from outside this machine. On JupyterHub and Binder the link goes
through jupyter-server-proxy (see :mod:`labkit._jupyter_proxy`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit._images import as_dataarray, as_labels, channels_of, label_hex
from labkit._lazy import attempt_import
from labkit.errors import FormatError
from labkit.units import voxel_size


class _Chunks:
    """Array access for neuroglancer: slices of a dask or numpy array, computed when asked for."""

    def __init__(self, data: Any) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, tuple(data.shape), np.dtype(data.dtype), data.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        part = self.data[key]
        return np.asarray(part.compute() if hasattr(part, "compute") else part)


class VolumeView:
    """Channels of a ``(c, z, y, x)`` volume rendered in 3D (maximum intensity), in their OMERO colours and windows.

    Parameters
    ----------
    data : array
        numpy, dask or ``xarray.DataArray`` with dims among t, c, z, y, x (the first time point is shown).
    channel_axis : int, optional
        Which axis holds channels, for arrays without named dims.
    layout : str
        neuroglancer layout: ``"3d"`` (default), ``"xy-3d"`` (a plane beside the volume), ``"4panel"``.
    height : int
        Height of the view in the notebook, pixels.
    labels : array, optional
        A label image (numpy, dask or xarray, aligned with the data by dim name: ``(z, y, x)`` labels of a
        ``(c, z, y, x)`` image; ids any integers, 0 background): a neuroglancer segmentation layer, "labels",
        on the image's voxel grid. Every object is shown, in the colour the plane viewer outlines it with:
        as a somewhat transparent surface in 3D (meshes made by neuroglancer's python package in this kernel,
        for an object when the browser asks for it) and filled in plane views. The labels are read whole
        (into memory) when the view is made: the meshes need the whole volume.

    Examples
    --------
    >>> v = VolumeView(np.random.default_rng(0).random((8, 32, 32)))
    >>> v.layers
    ['channel 0']
    >>> v.close()
    """

    def __init__(self, data: Any, channel_axis: int | None = None, layout: str = "3d", height: int = 520,
                 labels: Any = None) -> None:
        ng = attempt_import("neuroglancer")
        da = as_dataarray(data, channel_axis)
        if "t" in da.dims:
            da = da.isel(t=0)
        if "z" not in da.dims:
            raise FormatError(f"a 3D view needs a z axis; got dims {da.dims}: use labkit.view for a plane")
        self.height = height
        self.channels = channels_of(da)
        scales, unit = _voxel_size(da)
        space = ng.CoordinateSpace(names=["z", "y", "x"], units=unit, scales=scales)
        ng.set_server_bind_address("127.0.0.1", 0)  # this machine only
        self.viewer = ng.Viewer()
        with self.viewer.txn() as state:
            state.dimensions = space
            for i, ch in enumerate(self.channels):
                volume = da.isel(c=i) if "c" in da.dims else da
                volume = volume.transpose("z", "y", "x").data
                lo, hi = _window(ch, volume)
                layer = ng.ImageLayer(source=ng.LocalVolume(_Chunks(volume), space),
                                      shader=_shader(ch["color"], lo, hi), volume_rendering_mode="max")
                state.layers.append(name=ch["label"], layer=layer, visible=bool(ch["active"]))
            if labels is not None:
                state.layers.append(name="labels", layer=_segmentation_layer(ng, labels, da, space))
            state.layout = layout
            state.projection_orientation = [0.25, -0.3, 0.1, 0.92]  # oblique: the volume, not one face
            # framed on the whole volume: centred, the viewport's height (in units of the finest voxel size)
            # a quarter more than the volume's diagonal, which the oblique view and the perspective need
            shape = [da.sizes[d] for d in ("z", "y", "x")]
            state.position = [n / 2 for n in shape]
            diagonal = float(np.sqrt(sum((n * s) ** 2 for n, s in zip(shape, scales, strict=True))))
            state.projection_scale = 1.25 * diagonal / min(scales)
            state.show_axis_lines = False

    @property
    def layers(self) -> list[str]:
        """The channel labels, one neuroglancer layer each (and "labels", the segmentation, if any)."""
        return [layer.name for layer in self.viewer.state.layers]

    @property
    def url(self) -> str:
        """Where the browser opens the view (through jupyter-server-proxy on JupyterHub and Binder)."""
        from labkit._jupyter_proxy import browser_url

        return browser_url(self.viewer.get_viewer_url())

    def close(self) -> None:
        """Stop serving this view (the server itself stays up for other views)."""
        from neuroglancer import server

        if server.global_server is not None:
            server.global_server.viewers.pop(self.viewer.token, None)

    def _repr_html_(self) -> str:
        return (f"<iframe class='labkit-volume-view' src='{self.url}' style='width:100%;height:{self.height}px;"
                f"border:0' allow='fullscreen'></iframe><br><small>3D view ({', '.join(self.layers)}): drag to "
                f"rotate, scroll to zoom · <a href='{self.url}' target='_blank'>open in a new tab</a></small>")

    def __repr__(self) -> str:
        return f"<VolumeView {', '.join(self.layers)} at {self.url}>"


def _segmentation_layer(ng: Any, labels: Any, image: Any, space: Any) -> Any:
    """A neuroglancer segmentation layer of ``labels`` (aligned with ``image``): every object, in its own colour."""
    lab = as_labels(labels, image)
    if "t" in lab.dims:
        lab = lab.isel(t=0)
    if "z" not in lab.dims:
        raise FormatError(f"3D labels need a z axis; got dims {lab.dims}")
    values = np.asarray(lab.transpose("z", "y", "x").data)  # read whole: meshes are made from the whole volume
    if values.dtype.kind == "i":
        if values.size and values.min() < 0:
            raise FormatError("label ids must not be negative")
    # neuroglancer's segmentations are uint8-64; its mesh generator takes those (uint32 keeps uint16 ids)
    values = values.astype(np.uint64 if values.dtype.itemsize == 8 else np.uint32, copy=False)
    ids = [int(i) for i in np.unique(values) if i != 0]
    volume = ng.LocalVolume(np.ascontiguousarray(values), space, volume_type="segmentation")
    return ng.SegmentationLayer(
        source=volume, segments=ids, segment_colors=dict(zip(ids, label_hex(ids), strict=True)),
        object_alpha=0.75,  # the surfaces a little transparent: what is inside and behind shows through
        selected_alpha=0.35, hover_highlight=False)


def _voxel_size(da: Any) -> tuple[list[float], str]:
    """z, y, x voxel sizes and their neuroglancer unit: µm (:func:`labkit.units.voxel_size`), or none (pixels)."""
    vs = voxel_size(da, ("z", "y", "x"))
    sizes = [float(f"{vs[d] or 1.0:.3g}") for d in ("z", "y", "x")]  # 3 digits: what the viewer prints
    return sizes, "um" if vs.known else ""


def _window(channel: dict[str, Any], volume: Any) -> tuple[float, float]:
    """The channel's display window: its OMERO window, else percentiles of its middle plane."""
    if channel["start"] is not None and channel["end"] is not None:
        return float(channel["start"]), float(channel["end"])
    middle = np.asarray(_Chunks(volume)[volume.shape[0] // 2], float)
    return float(np.percentile(middle, 0.5)), float(np.percentile(middle, 99.5))


def _shader(color: str, lo: float, hi: float) -> str:
    """A neuroglancer shader: the channel's colour, brightness and opacity from its window."""
    return (f"#uicontrol invlerp normalized(range=[{lo:g}, {hi:g}])\n"
            f'#uicontrol vec3 color color(default="#{color.lower()}")\n'
            "void main() {\n  float v = normalized();\n  emitRGBA(vec4(color * v, v));\n}\n")
