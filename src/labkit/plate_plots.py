"""Plate-level results: per-image tables summed up per well, the plate heatmap, and thumbnails of wells.

Examples
--------
>>> summary = labkit.plate_summary(plate, table)  # doctest: +SKIP
>>> labkit.plate_heatmap(summary.objects_per_field, plate=plate)  # doctest: +SKIP
>>> labkit.plate_thumbnails(plate, ["A1", "E1", "B7"], channel="DAPI")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from labkit._lazy import attempt_import
from labkit.errors import ConfigurationError, NotFoundError

__all__ = ["plate_heatmap", "plate_summary", "plate_thumbnails"]

_WELL = re.compile(r"^\s*([A-Za-z]+)\s*[/_-]?\s*0*(\d+)\s*$")


def _split(well: str) -> tuple[str, str]:
    m = _WELL.match(str(well))
    if m is None:
        raise ConfigurationError(f"{well!r} is not a well name such as 'B3' or 'B03'")
    return m[1].upper(), m[2]


def plate_summary(plate: Any, results: Any, *, name: str = "objects", per: str = "well") -> Any:
    """Per-image tables (one row per object) summed up per field and per well.

    Parameters
    ----------
    plate : labkit.plates.Plate
        Its wells and fields are the denominator: a field without any object counts 0.
    results : pandas.DataFrame
        The per-image tables with columns ``well`` and ``field`` (:func:`labkit.studies.combine`), or the
        run :func:`labkit.map_images` returned (its tables are then read and combined).
    name : str
        What a row is (``"nuclei"``): names the count columns.
    per : {"well", "field"}

    Returns
    -------
    pandas.DataFrame
        ``per="field"``: one row per field, ``well``, ``field``, ``row``, ``column``, ``<name>`` (the count) and
        the mean of each numeric measurement. ``per="well"``: indexed by well, ``row``, ``column``, ``fields``,
        ``<name>`` (total), ``<name>_per_field`` (mean over fields) and ``<name>_per_field_sd``, then the mean
        per object of each numeric measurement.
    """
    pd = attempt_import("pandas")
    if "state" in results.columns and "target" in results.columns:
        from labkit.studies import combine

        results = combine(results)
    missing = {"well", "field"} - set(results.columns)
    if missing:
        raise ConfigurationError(f"the results have no column {sorted(missing)}: give the per-image tables with "
                                 "their keys (labkit.studies.combine(run)) or the run of labkit.map_images")
    fields = pd.DataFrame([{"well": str(r.well), "field": f, "row": r.row, "column": r.column}
                           for r in plate.wells.itertuples() for f in range(int(r.fields))])
    unknown = sorted(set(zip(results.well, results.field, strict=True))
                     - set(zip(fields.well, fields.field, strict=True)))
    if unknown:
        raise NotFoundError(f"the results hold fields the plate does not have: {unknown[:5]}")
    measures = [c for c in results.columns if c not in ("well", "field", "label")
                and pd.api.types.is_numeric_dtype(results[c]) and not pd.api.types.is_bool_dtype(results[c])]
    counts = results.groupby(["well", "field"]).size().rename(name)
    per_field = fields.join(counts, on=["well", "field"])
    per_field[name] = per_field[name].fillna(0).astype(int)
    if measures:
        per_field = per_field.join(results.groupby(["well", "field"])[measures].mean(), on=["well", "field"])
    if per == "field":
        return per_field
    if per != "well":
        raise ConfigurationError(f"per must be 'well' or 'field', not {per!r}")
    grouped = per_field.groupby("well", sort=False)
    out = pd.DataFrame({
        "row": grouped.row.first(), "column": grouped.column.first(), "fields": grouped.size(),
        name: grouped[name].sum(), f"{name}_per_field": grouped[name].mean(),
        f"{name}_per_field_sd": grouped[name].std(ddof=1),
    })
    if measures:
        out = out.join(results.groupby("well")[measures].mean())
    out.index.name = "well"
    return out


def _grid(values: Mapping[str, float], plate: Any) -> tuple[list[str], list[str], set[str]]:
    """Row and column names of the plate (or spanned by the values), and the wells with images."""
    if plate is not None:
        imaged = {_split(w) for w in plate.wells.well}
        return list(plate.rows), list(plate.columns), {f"{r}{c}" for r, c in imaged}
    parts = [_split(w) for w in values]
    if not parts:
        raise ConfigurationError("no values and no plate: nothing to draw")
    from labkit.synthetic.plate import row_name

    letters = [row_name(i) for i in range(64)]
    n_rows = max(letters.index(r) for r, _ in parts) + 1
    n_cols = max(int(c) for _, c in parts)
    return letters[:n_rows], [str(i) for i in range(1, n_cols + 1)], {f"{r}{c}" for r, c in parts}


def plate_heatmap(
    values_per_well: Any,
    plate: Any = None,
    ax: Any = None,
    *,
    cmap: str = "viridis",
    label: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
) -> Any:
    """The classic plate map: a coloured square per well, rows by letter and columns by number.

    Parameters
    ----------
    values_per_well : pandas.Series or mapping
        A value per well, indexed by well name (``"B3"``, ``"B03"``): e.g. a column of :func:`plate_summary`.
    plate : labkit.plates.Plate, optional
        Gives the plate's size and which wells have images; without it the grid spans the wells named.
    ax : matplotlib Axes, optional
    cmap, vmin, vmax : optional
        The colour map and its range. Counts (whole numbers) of a few values get one colour each and a colour
        bar of whole numbers; one value in every well gets the map's middle colour, and says so under the map.
    label : str, optional
        The colour bar's label (default: the series' name).

    Returns
    -------
    matplotlib Axes
        Wells without a value (empty wells, or no result) are grey with a cross; a colour bar beside.
    """
    plt = attempt_import("matplotlib.pyplot")
    if hasattr(values_per_well, "items"):
        raw = dict(values_per_well.items())
    else:
        raise ConfigurationError("values_per_well must be a pandas Series or a mapping well -> value")
    values = {}
    for well, v in raw.items():
        r, c = _split(well)
        values[(r, c)] = float(v) if v is not None else float("nan")
    rows, columns, imaged = _grid({f"{r}{c}": v for (r, c), v in values.items()}, plate)
    col_index = {c.lstrip("0") or "0": j for j, c in enumerate(columns)}
    grid = np.full((len(rows), len(columns)), np.nan)
    for (r, c), v in values.items():
        if r not in rows or c not in col_index:
            raise NotFoundError(f"well {r}{c} is not on this {len(rows)} x {len(columns)} plate")
        grid[rows.index(r), col_index[c]] = v
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.5 * len(columns) + 2), max(2.5, 0.5 * len(rows) + 1)))
    colours, norm, ticks = _colours(grid, plt.get_cmap(cmap), vmin, vmax)
    colours.set_bad("#d9d9d9")
    shown = ax.imshow(np.ma.masked_invalid(grid), cmap=colours, norm=norm, interpolation="nearest", aspect="equal")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if np.isnan(grid[i, j]):
                ax.plot([j - 0.35, j + 0.35], [i - 0.35, i + 0.35], color="#7f7f7f", lw=1.2)
                ax.plot([j - 0.35, j + 0.35], [i + 0.35, i - 0.35], color="#7f7f7f", lw=1.2)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, len(columns)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(rows)), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlim(-0.5, len(columns) - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    bar = ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    name = label if label is not None else str(getattr(values_per_well, "name", "") or "")
    bar.set_label(name)
    if ticks is not None:
        bar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
    elif _whole(grid):
        bar.locator = attempt_import("matplotlib.ticker").MaxNLocator("auto", steps=[1, 2, 5, 10], integer=True)
        bar.update_ticks()
    finite = grid[np.isfinite(grid)]
    if len(ticks or ()) == 1 and len(finite):  # one value: say it in words too
        from labkit._text import plural

        ax.set_xlabel(f"all {plural(len(finite), 'well')}: {ticks[0]:g}{' ' + name if name else ''}", fontsize=10)
    if title:
        ax.set_title(title, pad=20)
    ax.labkit_empty_wells = [f"{rows[i]}{columns[j]}" for i, j in zip(*np.nonzero(np.isnan(grid)), strict=True)]
    return ax


#: integer values spanning at most this many steps get one colour per value (a colour bar of whole numbers)
DISCRETE_STEPS = 12


def _whole(grid: np.ndarray) -> bool:
    finite = grid[np.isfinite(grid)]
    return bool(finite.size) and bool(np.all(finite == np.round(finite)))


def _colours(grid: np.ndarray, cmap: Any, vmin: float | None, vmax: float | None) -> tuple[Any, Any, list | None]:
    """The colour map, norm and colour-bar ticks of a plate map.

    One value in every well (and no range given): one colour, the middle of ``cmap``, never an end of it
    (black or white), ticked with the value. Whole numbers (counts) of at most :data:`DISCRETE_STEPS` steps:
    one colour per number, ticked with each. Anything else: ``cmap`` over ``vmin``-``vmax``, no ticks given.
    """
    colors = attempt_import("matplotlib.colors")
    finite = grid[np.isfinite(grid)]
    if finite.size and finite.min() == finite.max() and (vmin is None or vmax is None):
        value = float(finite[0])
        half = 0.5 if _whole(grid) else max(abs(value) * 0.5, 0.5)
        return (colors.ListedColormap([cmap(0.5)]), colors.BoundaryNorm([value - half, value + half], 1),
                [int(value) if _whole(grid) else value])
    if _whole(grid):
        lo = int(np.floor(vmin)) if vmin is not None else int(finite.min())
        hi = int(np.ceil(vmax)) if vmax is not None else int(finite.max())
        if 0 < hi - lo <= DISCRETE_STEPS:
            steps = list(range(lo, hi + 1))
            return (cmap.resampled(len(steps)), colors.BoundaryNorm(np.arange(lo - 0.5, hi + 1), len(steps)), steps)
    return cmap.copy(), colors.Normalize(vmin, vmax), None


def plate_thumbnails(
    plate: Any,
    wells: Iterable[str],
    channel: str | int | None = None,
    *,
    field: int = 0,
    level: int = 0,
    size: float = 2.0,
    cmap: str = "gray",
    axes: Any = None,
) -> Any:
    """A row of small images: one field of each chosen well, contrast from the 1st to 99.5th percentile.

    Parameters
    ----------
    plate : labkit.plates.Plate
    wells : iterable of str
        Well names (``"A1"``); a well without images gets a crossed empty panel.
    channel : str or int, optional
        The channel shown (by name or index); default the first.
    field, level : int
        Which field of each well and which resolution level (a coarser level reads less).
    size : float
        Inches per thumbnail.
    axes : sequence of matplotlib Axes, optional

    Returns
    -------
    matplotlib Figure
    """
    plt = attempt_import("matplotlib.pyplot")
    wells = [str(w) for w in wells]
    if not wells:
        raise ConfigurationError("no wells chosen: pass a list such as ['A1', 'B3']")
    if axes is None:
        fig, axes = plt.subplots(1, len(wells), figsize=(size * len(wells), size + 0.4), squeeze=False)
        axes = axes[0]
    else:
        axes = list(np.ravel(axes))
        fig = axes[0].figure
    for ax, well in zip(axes, wells, strict=True):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(well, fontsize=9)
        try:
            image = plate.image(well, field, level)
        except NotFoundError:
            ax.plot([0, 1], [0, 1], color="#7f7f7f")
            ax.plot([0, 1], [1, 0], color="#7f7f7f")
            ax.set_title(f"{well} (empty)", fontsize=9)
            continue
        if "c" in image.dims:
            if channel is None:
                image = image.isel(c=0)
            elif isinstance(channel, int):
                image = image.isel(c=channel)
            else:
                image = image.sel(c=channel)
        for dim in [d for d in image.dims if d not in ("y", "x")]:  # a z stack or time: its middle plane
            image = image.isel({dim: image.sizes[dim] // 2})
        data = np.asarray(image.values, dtype=float)
        lo, hi = np.percentile(data, (1, 99.5))
        ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
    fig.tight_layout()
    return fig
