"""Pictures: an image viewer for JupyterLab (:func:`view`) and georeferenced maps (:func:`plot_map`).

:func:`mark_window` outlines a window of a map on it; :mod:`labkit.figures` draws images on matplotlib axes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from labkit._images import as_dataarray, as_labels, blend_channels, channels_of, label_colors
from labkit._lazy import attempt_import
from labkit.errors import ConfigurationError, FormatError
from labkit.units import voxel_size


def plot_map(
    da: Any,
    ax: Any = None,
    *,
    cmap: str = "viridis",
    title: str | None = None,
    nodata: float | None = None,
    units: str = "km",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar_label: str | None = None,
    classes: Mapping[int, tuple[str, str]] | None = None,
    outline: Any = None,
    outline_label: str = "truth",
) -> Any:
    """Plot a 2D georeferenced ``xarray.DataArray`` (``y``, ``x`` in a projected CRS) with its extent and a colour bar.

    Continuous values get a colour bar; a map of classes (``classes={1: ("flooded", "#1f78b4"), ...}``) gets one
    colour per class and a legend instead. The x label names the CRS when the data carries it.

    Parameters
    ----------
    da : xarray.DataArray
        2D, dims ``("y", "x")``; coordinates in metres of its projection (or in the length unit their ``units``
        attribute names: :func:`labkit.units.voxel_size`).
    ax : matplotlib Axes, optional
    cmap : str
    title : str, optional
    nodata : float, optional
        Value drawn transparent (default: ``da.attrs["nodata"]`` or ``_FillValue`` if present).
    units : {"km", "m"}
        Unit of the axes.
    vmin, vmax : float, optional
    colorbar_label : str, optional
        Default: ``long_name [units]`` from the attributes.
    classes : mapping, optional
        Value -> (label, colour) of a categorical map; values not listed are left blank.
    outline : array, optional
        A boolean array on the same grid whose outline is drawn over the map (a known truth, say).
    outline_label : str
        Legend label of the outline.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = plot_map(result.ensemble_likelihood, cmap="Reds")  # doctest: +SKIP
    >>> ax = plot_map(result.ensemble_flood_extent, classes=FLOOD_CLASSES)  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if da.ndim != 2:
        raise FormatError(f"plot_map needs a 2D array, got dims {da.dims}; select one time step first")
    values = np.asarray(da.values, dtype=float)
    nodata = nodata if nodata is not None else da.attrs.get("nodata", da.attrs.get("_FillValue"))
    if nodata is not None and classes is None:
        values = np.where(values == nodata, np.nan, values)
    extent, units, origin = _map_extent(da, units)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5.5), constrained_layout=True)
    handles: list[Any] = []
    if classes:
        codes = sorted(classes)
        index = np.full(values.shape, np.nan)
        for i, code in enumerate(codes):
            index[values == code] = i
        palette = ListedColormap([classes[c][1] for c in codes])
        ax.imshow(index, extent=extent, cmap=palette, norm=BoundaryNorm(np.arange(len(codes) + 1) - 0.5, len(codes)),
                  interpolation="nearest", origin=origin)
        handles = [Patch(facecolor=classes[c][1], edgecolor="0.4", label=classes[c][0]) for c in codes]
    else:
        im = ax.imshow(values, extent=extent, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", origin=origin)
        unit_label = f"[{da.attrs['units']}]" if "units" in da.attrs else ""
        label = colorbar_label or " ".join(p for p in (da.attrs.get("long_name", da.name or ""), unit_label) if p)
        ax.figure.colorbar(im, ax=ax, label=label, shrink=0.85)
    if outline is not None:
        ax.contour(np.asarray(outline, float), levels=[0.5], colors="red", linewidths=1.0, extent=extent,
                   origin=origin)
        handles.append(Line2D([], [], color="red", label=outline_label))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    crs = _crs_name(da)
    ax.set_xlabel(f"x ({units})" + (f" · {crs}" if crs else ""))
    ax.set_ylabel(f"y ({units})")
    if title:
        ax.set_title(title)
    return ax


def _map_extent(da: Any, units: str) -> tuple[list[float], str, str]:
    """A map's extent ``[left, right, bottom, top]`` (pixel edges) in ``units``, that unit, and imshow's origin.

    The map's projection is in metres unless its coordinates say otherwise; without known units, pixels.
    """
    ydim, xdim = da.dims
    try:
        vs = voxel_size(da, (ydim, xdim), unit="meter", assume="meter")
    except FormatError as exc:  # degrees of a geographic CRS, say
        raise FormatError(f"plot_map draws maps in a projected CRS, in metres: {exc}. Reproject the map first, "
                          "e.g. da.rio.reproject('EPSG:3857') with rioxarray") from None
    if units not in ("km", "m"):
        raise ConfigurationError(f"units must be 'km' or 'm', not {units!r}")
    scale = (1000.0 if units == "km" else 1.0) if vs.known else 1.0
    units = units if vs.known else "pixel"
    x0, y0, nx, ny = vs.origin[xdim], vs.origin[ydim], da.sizes[xdim], da.sizes[ydim]
    dx = vs.steps[xdim]
    dy = vs.steps[ydim] if ny > 1 else -vs.steps[ydim]  # one row: north up
    x1, y1 = x0 + dx * (nx - 1), y0 + dy * (ny - 1)
    extent = [(x0 - dx / 2) / scale, (x1 + dx / 2) / scale, (y1 + dy / 2) / scale, (y0 - dy / 2) / scale]
    return extent, units, "upper" if dy < 0 else "lower"


def mark_window(ax: Any, window: Any, *, units: str = "km", color: str = "black", linewidth: float = 1.5) -> Any:
    """Outline on a map (:func:`plot_map`) where a window of it lies: a rectangle around the window's pixels.

    Parameters
    ----------
    ax : matplotlib Axes
        The axes of a :func:`plot_map` of the whole map.
    window : xarray.DataArray
        2D, dims ``("y", "x")``: a part of the map (``da[r0:r1, c0:c1]``), on the same grid.
    units : {"km", "m"}
        The unit the map was drawn in (``plot_map``'s ``units``).
    color : str
    linewidth : float

    Returns
    -------
    matplotlib.patches.Rectangle

    Examples
    --------
    >>> ax = plot_map(extent, classes=FLOOD_CLASSES)  # doctest: +SKIP
    >>> mark_window(ax, likelihood[1024:1536, 512:1024])  # doctest: +SKIP
    """
    from matplotlib.patches import Rectangle

    if window.ndim != 2:
        raise FormatError(f"mark_window needs a 2D window, got dims {window.dims}; select one time step first")
    left, right, bottom, top = _map_extent(window, units)[0]
    box = Rectangle((min(left, right), min(bottom, top)), abs(right - left), abs(top - bottom), fill=False,
                    edgecolor=color, linewidth=linewidth)
    ax.add_patch(box)
    return box


def _crs_name(da: Any) -> str:
    """The CRS of ``da`` by name, or by its projection method when it has no name ("Azimuthal Equidistant")."""
    for obj in (da, da.coords.get("spatial_ref")):
        if obj is None:
            continue
        wkt = obj.attrs.get("crs_wkt") or obj.attrs.get("spatial_ref")
        if wkt:
            try:
                from pyproj import CRS

                crs = CRS.from_wkt(wkt)
                if crs.name and crs.name.lower() != "unknown":
                    return crs.name
                method = crs.coordinate_operation.method_name if crs.coordinate_operation else ""
                return f"{method} projection, {crs.datum.name}" if method else ""
            except Exception:  # noqa: BLE001 - a label only
                return ""
    return ""


#: the classes of a flood-extent map (GFM's values)
FLOOD_CLASSES: dict[int, tuple[str, str]] = {
    0: ("dry", "#efe9dc"), 1: ("flooded", "#1f78b4"), 255: ("no data", "#9e9e9e"),
}


# --------------------------------------------------------------------------- image viewer


class Viewer:
    """A plane viewer for JupyterLab: z/t sliders, channel toggles, maximum projection, label outlines.

    Only the planes on screen are read (a maximum projection reads the whole stack of the
    active channels). Build it with :func:`view`.

    With ``labels`` (a label image: numpy, dask or xarray, aligned with the image by dim name, ids any
    integers), every object is outlined in its own colour (:func:`labkit._images.label_colors`: the same
    colour for an id on every plane and in the 3D view); the z slider moves image and labels together, and
    the maximum projection outlines the maximum projection of the labels.
    """

    def __init__(self, data: Any, channel_axis: int | None = None, labels: Any = None) -> None:
        self.data = as_dataarray(data, channel_axis)
        self.labels = None if labels is None else as_labels(labels, self.data)
        self.show_labels = self.labels is not None
        self.channels = channels_of(self.data)
        self.t = 0
        self.z = self.data.sizes.get("z", 1) // 2
        self.projection = False
        self.planes_read = 0
        self._widgets: dict[str, Any] | None = None

    def _at_view(self, da: Any) -> Any:
        """``da`` at the current t, and at the current z (or its maximum over z)."""
        if "t" in da.dims:
            da = da.isel(t=self.t)
        if "z" in da.dims:
            da = da.max("z") if self.projection else da.isel(z=self.z)
        return da

    def _plane(self, c: int) -> np.ndarray:
        da = self._at_view(self.data.isel(c=c) if "c" in self.data.dims else self.data)
        self.planes_read += 1
        return np.asarray(da.values, dtype=np.float64)

    def render(self) -> np.ndarray:
        """The RGB image (float, 0-1) of the current view."""
        active = [(i, ch) for i, ch in enumerate(self.channels) if ch["active"]]
        planes = []
        for i, ch in active:
            plane = self._plane(i)
            lo = ch["start"] if ch["start"] is not None else float(np.percentile(plane, 0.5))
            hi = ch["end"] if ch["end"] is not None else float(np.percentile(plane, 99.5))
            planes.append(np.clip((plane - lo) / max(hi - lo, 1e-12), 0, 1))
        rgb = blend_channels(planes, [ch["color"] for _, ch in active], (self.data.sizes["y"], self.data.sizes["x"]))
        if self.labels is not None and self.show_labels:
            lab = np.asarray(self._at_view(self.labels).values)
            edges = outlines(lab)
            ids, where = np.unique(lab[edges], return_inverse=True)
            rgb[edges] = label_colors(ids)[where]
        return rgb

    def _pixel_size(self) -> tuple[float | None, str]:
        """Size of one x pixel and its unit (µm), from :func:`labkit.units.voxel_size` (``None`` when unknown)."""
        vs = voxel_size(self.data, ("x",))
        if not vs.known or self.data.sizes["x"] < 2:
            return None, "pixel"
        return vs["x"], vs.symbol

    def zoom(self) -> int:
        """Whole-number magnification: small images are enlarged to at least 400 pixels wide, pixel for pixel."""
        return max(1, -(-400 // max(self.data.sizes["x"], 1)))

    def where(self) -> str:
        """What the view shows: the plane (or projection), time point and scale, for the caption."""
        parts = []
        if "z" in self.data.dims:
            parts.append("maximum over z" if self.projection else f"z = {self.z} of {self.data.sizes['z']}")
        if "t" in self.data.dims:
            parts.append(f"t = {self.t}")
        size, unit = self._pixel_size()
        if size is not None:
            parts.append(f"{_round(size)} {unit} per pixel; bar = {_round(_bar_length(size * self.data.sizes['x']))} "
                         f"{unit}")
        return " · ".join(parts)

    def png(self) -> bytes:
        """The current view as a PNG, one image pixel per screen pixel (or an exact multiple), with a scale bar."""
        import io

        from PIL import Image, ImageDraw

        rgb = (self.render() * 255).round().astype(np.uint8)
        k = self.zoom()
        rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)
        picture = Image.fromarray(rgb)
        size, _ = self._pixel_size()
        if size is not None:  # a white bar at the bottom right
            length = _bar_length(size * self.data.sizes["x"]) / size * k
            h, w = rgb.shape[:2]
            margin, thick = max(4, w // 40), max(2, h // 100)
            ImageDraw.Draw(picture).rectangle([w - margin - length, h - margin - thick, w - margin, h - margin],
                                              fill=(255, 255, 255))
        buf = io.BytesIO()
        picture.save(buf, format="PNG")
        return buf.getvalue()

    def widget(self) -> Any:
        """The ipywidgets view (made once)."""
        if self._widgets is not None:
            return self._widgets["box"]
        w = attempt_import("ipywidgets")
        width = self.data.sizes["x"] * self.zoom()
        # crisp pixels; never wider than the output area, height following the width
        image = w.Image(format="png", value=self.png(), layout=w.Layout(width=f"{width}px", max_width="100%",
                                                                         height="auto"))
        image.add_class("labkit-viewer-image")
        style = w.HTML("<style>.labkit-viewer-image{image-rendering:pixelated;object-fit:contain}"
                       ".labkit-busy .labkit-viewer-image{opacity:.55}</style>")
        caption = w.HTML(f"<small class='labkit-viewer-caption'>{self.where()}</small>")
        busy = w.HTML("", layout=w.Layout(min_width="6em"))
        controls: list[Any] = []
        z = t = None
        if "z" in self.data.dims:
            z = w.IntSlider(value=self.z, min=0, max=self.data.sizes["z"] - 1, description="z", continuous_update=False)
            controls.append(z)
        if "t" in self.data.dims and self.data.sizes["t"] > 1:
            t = w.IntSlider(value=0, min=0, max=self.data.sizes["t"] - 1, description="t", continuous_update=False)
            controls.append(t)
        proj = w.ToggleButton(description="Max projection", value=False, disabled=z is None)
        outlined = None
        if self.labels is not None:
            outlined = w.Checkbox(value=self.show_labels, description="Labels", indent=False,
                                  layout=w.Layout(width="auto"))
            controls.append(outlined)
        toggles = [w.Checkbox(value=c["active"], description=c["label"], indent=False,
                              style={"background": f"#{c['color']}33"}) for c in self.channels]

        def redraw(_: Any = None) -> None:
            self.z = z.value if z is not None else 0
            self.t = t.value if t is not None else 0
            self.projection = proj.value
            if outlined is not None:
                self.show_labels = outlined.value
            if z is not None:
                z.disabled = self.projection  # the z slider does nothing in a projection
            for ch, box in zip(self.channels, toggles, strict=True):
                ch["active"] = box.value
            busy.value = "<span class='labkit-viewer-busy'>⏳ drawing…</span>"
            box_.add_class("labkit-busy")
            try:
                image.value = self.png()
                caption.value = f"<small class='labkit-viewer-caption'>{self.where()}</small>"
            finally:
                busy.value = ""
                box_.remove_class("labkit-busy")

        for control in [*controls, proj, *toggles]:
            control.observe(redraw, "value")
        box_ = w.VBox([style, w.HBox([*controls, proj, busy]), w.HBox(toggles), image, caption])
        self._widgets = {"box": box_, "image": image, "z": z, "t": t, "projection": proj, "channels": toggles,
                         "busy": busy, "caption": caption, "labels": outlined}
        return box_

    def _ipython_display_(self) -> None:
        import base64

        from IPython.display import display

        bundle = {"image/png": base64.b64encode(self.png()).decode()}  # what shows where widgets do not
        try:
            bundle = {**self.widget()._repr_mimebundle_(), **bundle}
        except ImportError:
            pass
        display(bundle, raw=True)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Where each object of a 2D label image has its outline: its pixels next to another id (4-neighbours).

    Both sides of a border between two touching objects are outline, each in its own object; so is an
    object's edge at the image's border. Background (0) has none.

    Examples
    --------
    >>> outlines(np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1]])).astype(int)
    array([[0, 1, 1, 1],
           [0, 1, 0, 1],
           [0, 1, 1, 1]])
    """
    padded = np.pad(labels, 1)
    inner = padded[1:-1, 1:-1]
    edges = ((inner != padded[:-2, 1:-1]) | (inner != padded[2:, 1:-1]) | (inner != padded[1:-1, :-2])
             | (inner != padded[1:-1, 2:]))
    return edges & (inner != 0)


def _bar_length(width: float) -> float:
    """A round scale-bar length, about a fifth of ``width`` (1, 2 or 5 times a power of ten)."""
    target = width / 5
    power = 10 ** np.floor(np.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def _round(value: float) -> str:
    """Three significant digits, no trailing zeros: 0.36, 20, 1.5e+03."""
    return f"{value:.3g}"


def view(data: Any, *, channel_axis: int | None = None, labels: Any = None, backend: str = "auto") -> Any:
    """View an image (numpy, dask or xarray; 2D, 3D, multichannel, time) in JupyterLab.

    Parameters
    ----------
    data : array
        numpy, dask or ``xarray.DataArray`` (dims among t, c, z, y, x: what
        :func:`labkit.load_remote.open_image` returns, with channel colours and windows).
    channel_axis : int, optional
        Which axis holds channels, for arrays without named dims.
    labels : array, optional
        A label image (numpy, dask or xarray; ids any integers, 0 background) whose objects are outlined over
        the data, each in its own colour; with ``backend="3d"``, a segmentation layer (the objects' surfaces).
        Matched to the data by dim name: an ``open_image`` image ``(c, z, y, x)`` takes labels ``(z, y, x)``.
    backend : {"auto", "labkit", "3d", "itk"}
        ``"auto"`` and ``"labkit"``: labkit's plane viewer; ``"3d"``: the volume rendered in 3D
        (:class:`labkit.viewer3d.VolumeView`, neuroglancer served by this kernel, offline; the ``viewer3d``
        extra); ``"itk"`` hands the data to ``itkwidgets.view`` (the ``itk`` extra; its viewer app is
        fetched online).

    Returns
    -------
    Viewer, VolumeView or the itkwidgets viewer

    Examples
    --------
    >>> img = open_image("s3://idr/zarr/v0.1/6001240.zarr")  # doctest: +SKIP
    >>> view(img.isel(t=0))  # doctest: +SKIP
    >>> view(img.isel(t=0), backend="3d")  # doctest: +SKIP
    """
    if backend not in ("auto", "labkit", "3d", "itk"):
        raise ConfigurationError(f"backend must be 'auto', 'labkit', '3d' or 'itk', not {backend!r}")
    if backend == "3d":
        from labkit.viewer3d import VolumeView

        return VolumeView(data, channel_axis=channel_axis, labels=labels)
    if backend == "itk":
        itkwidgets = attempt_import("itkwidgets")
        return itkwidgets.view(np.asarray(data))
    return Viewer(data, channel_axis=channel_axis, labels=labels)
