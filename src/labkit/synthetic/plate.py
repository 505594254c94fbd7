"""A synthetic OME-NGFF HCS plate with known truth: nuclei per field follow a dose response along the columns.

Its structure is that of the real screen tutorial 05 reads in live mode, IDR plate 2551 of idr0001A
(:data:`labkit.catalog.IDR_PLATE`): 8 rows A-H x 12 columns 1-12, 6 fields a well, each field ``c, z, y, x``
with the channels ``GFP`` and ``Cascade blue`` (the nuclear stain) and 16 planes, pixels of 0.1077 um. Only
the fields are smaller: 65 x 86 pixels instead of 1040 x 1376 (a sixteenth along y and x), so that the
sandbox writes (once) and serves (at every start) 558 fields in seconds.

Layout of the default 96-well plate:

* column 1 holds the controls: rows A-D negative (no compound, the most nuclei), rows E-H positive
  (a lethal compound, the fewest);
* columns 2-12 a dilution series, 1:3 from 0.01 uM (column 2) to 590 uM (column 12): the expected
  nuclei per field fall from :data:`MOST_NUCLEI` to :data:`FEWEST_NUCLEI` along a Hill curve
  (EC50 :data:`EC50_UM`, slope 1), each field drawing its own count around it;
* a few wells (C5, F9, H12) are empty: no image, left out of the plate's ``wells`` (IDR's plate 2551 has
  all 96; the empty ones exercise what a screen with failed wells looks like).

Each field is a widefield z-stack: touching nuclei (:func:`labkit.synthetic.touching_nuclei`) in focus at one
plane near the middle (it differs from field to field) and blurred and dimmer away from it, in ``Cascade blue``;
a ring of cytoplasm around each nucleus in ``GFP``. Every nucleus is visible in the maximum projection along z,
so the truth is the number of nuclei of a field. The truth (nuclei in every field, doses, roles, empty wells) is
stored in the plate's attributes under ``labkit_truth`` and returned.

Examples
--------
>>> truth = hcs_plate("/tmp/plate-doc.zarr", rows=2, columns=3, fields=1)  # doctest: +SKIP
>>> truth.table.head()  # doctest: +SKIP
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labkit._lazy import attempt_import

#: expected nuclei per field without compound, and at a lethal dose
MOST_NUCLEI, FEWEST_NUCLEI = 10, 1
#: the compound's half-effect concentration (uM) and the dilution series
EC50_UM, FIRST_DOSE_UM, DILUTION = 1.0, 0.01, 3.0
#: the channels of IDR plate 2551 (catalog.IDR_PLATE.channel_names), in its order; nuclei are in the second
CHANNELS = ("GFP", "Cascade blue")
NUCLEAR_CHANNEL = "Cascade blue"
#: fields of view per well, planes per field, field size (y, x) in pixels; IDR plate 2551: 6, 16, 1040 x 1376
FIELDS, PLANES, FIELD_YX = 6, 16, (65, 86)
#: pixel size in y and x (IDR plate 2551's), and the z step (not taken from the study: a plausible widefield step)
PIXEL_UM, Z_STEP_UM = 0.1077, 0.5
#: wells left empty (no image) in a plate large enough to have them
EMPTY_WELLS = ("C5", "F9", "H12")
#: version of this writer's output: a plate written by an older one is not reused
WRITER = 3


@dataclass(frozen=True)
class PlateTruth:
    """What :func:`hcs_plate` wrote.

    Attributes
    ----------
    path : str
        The plate's root.
    version : str
        NGFF version.
    truth : dict
        As stored in the plate's ``labkit_truth`` attribute: ``nuclei`` (well -> nuclei in each field),
        ``dose_um`` and ``role`` (well -> value), ``empty_wells``, ``channels``, ``parameters``.
    table : pandas.DataFrame
        One row per field: ``well``, ``row``, ``column``, ``field``, ``role``, ``dose_um``, ``expected``
        (the dose response's value) and ``nuclei`` (the count in the image).
    """

    path: str
    version: str
    truth: dict[str, Any] = field(repr=False)
    table: Any = field(repr=False)


def expected_nuclei(dose_um: float) -> float:
    """Expected nuclei per field at ``dose_um`` (a Hill curve from :data:`MOST_NUCLEI` to :data:`FEWEST_NUCLEI`).

    Examples
    --------
    >>> expected_nuclei(0.0), expected_nuclei(EC50_UM)
    (10.0, 5.5)
    """
    return FEWEST_NUCLEI + (MOST_NUCLEI - FEWEST_NUCLEI) / (1.0 + dose_um / EC50_UM)


def row_name(i: int) -> str:
    """``A`` ... ``Z``, ``AA`` ... (rows of 1536-well plates go to ``AF``)."""
    letters = string.ascii_uppercase
    return letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26]


def plate_layout(rows: int = 8, columns: int = 12) -> dict[str, dict[str, Any]]:
    """Each well with an image: its ``role`` and ``dose_um`` (empty wells are left out).

    Examples
    --------
    >>> layout = plate_layout()
    >>> len(layout), layout["A1"]["role"], layout["E1"]["role"], layout["B2"]["dose_um"], "C5" in layout
    (93, 'negative control', 'positive control', 0.01, False)
    """
    out = {}
    for r in range(rows):
        for c in range(columns):
            well = f"{row_name(r)}{c + 1}"
            if well in EMPTY_WELLS:
                continue
            if c == 0 and columns > 1:
                role = "negative control" if r < max(1, rows // 2) else "positive control"
                dose = 0.0 if role == "negative control" else float("inf")
            else:
                role = "treated"
                dose = round(FIRST_DOSE_UM * DILUTION ** (c - 1), 6)
            out[well] = {"row": r, "column": c, "role": role, "dose_um": dose}
    return out


def plate_field(n_target: int, seed: int, size: int | tuple[int, int] = FIELD_YX, planes: int = PLANES,
                ) -> tuple[np.ndarray, int]:
    """One field (``c, z, y, x`` uint16: ``GFP``, ``Cascade blue``) with about ``n_target`` nuclei; and their count.

    The nuclei are in focus at one plane near the middle of the stack (``seed`` chooses it), blurred (sigma
    0.6 pixel a plane) and dimmer (1 / (1 + (dz / 3)^2)) away from it.

    Examples
    --------
    >>> data, n = plate_field(6, seed=1, size=(48, 64), planes=8)
    >>> data.shape, data.dtype.name, n >= 4
    ((2, 8, 48, 64), 'uint16', True)
    """
    from scipy import ndimage

    from labkit.synthetic.nuclei import touching_nuclei

    y, x = (size, size) if isinstance(size, int) else size
    plane = touching_nuclei((y, x), n_target, seed=seed, radius=(5.0, 7.0), touching=0.15)
    count = len(np.unique(plane.labels)) - int((plane.labels == 0).any())
    rng = np.random.default_rng(seed + 1)
    focus = planes // 2 + int(rng.integers(-2, 2)) if planes > 4 else planes // 2
    nuclei = plane.image.astype(np.float32) - 100.0
    cells = ndimage.grey_dilation(plane.labels, size=(7, 7)) > 0
    ring = np.where(cells & (plane.labels == 0), 480.0, 0.0).astype(np.float32)
    out = np.empty((2, planes, y, x), np.uint16)
    for z in range(planes):
        dz = abs(z - focus)
        dim = 1.0 / (1.0 + (dz / 3.0) ** 2)
        blue = ndimage.gaussian_filter(nuclei, 0.6 * dz) if dz else nuclei
        green = ndimage.gaussian_filter(ring, 1.0 + 0.6 * dz)
        # the in-focus plane carries the camera's noise (touching_nuclei's); no more is added, so a field
        # compresses to ~70 kB and the sandbox serves 558 of them in seconds
        out[1, z] = np.clip(np.rint(100.0 + blue * dim), 0, 65535)
        out[0, z] = np.clip(np.rint(120.0 + green * dim), 0, 65535)
    return out, count


def hcs_plate(
    dest: str | Path,
    rows: int = 8,
    columns: int = 12,
    fields: int = FIELDS,
    *,
    version: str = "0.4",
    size: int | tuple[int, int] = FIELD_YX,
    planes: int = PLANES,
    seed: int = 0,
    name: str = "labkit synthetic dose response",
    overwrite: bool = True,
    reuse: bool = False,
) -> PlateTruth:
    """Write a synthetic OME-NGFF HCS plate (0.4: zarr v2; 0.5: zarr v3) whose nuclei per field are known.

    Parameters
    ----------
    dest : str or path
        The plate's root (a local path or any URL :func:`labkit.ngff.write_image` writes to).
    rows, columns, fields : int
        Plate size and fields of view per well.
    version : {"0.4", "0.5"}
    size : int or (int, int)
        Field size in pixels, ``(y, x)`` (an int: square).
    planes : int
        Planes (z) a field.
    seed : int
        The same seed gives the same plate.
    reuse : bool
        Return the plate already at ``dest`` if it was written with the same parameters.

    Returns
    -------
    PlateTruth
    """
    pd = attempt_import("pandas")
    from labkit import _zarr, ngff
    from labkit.storage import open_store

    params = {"rows": rows, "columns": columns, "fields": fields, "version": version,
              "size": list(size) if isinstance(size, tuple) else size, "planes": planes, "seed": seed,
              "writer": WRITER}
    if reuse:
        try:
            attrs = dict(_zarr.open_group(open_store(dest), mode="r").attrs)
            if attrs.get("labkit_truth", {}).get("parameters") == params:
                return _result(str(dest), version, attrs["labkit_truth"], pd)
        except Exception:  # noqa: BLE001 - nothing (complete) there: write it
            pass
    layout = plate_layout(rows, columns)
    row_names = [row_name(r) for r in range(rows)]
    col_names = [str(c + 1) for c in range(columns)]
    jobs = []
    for i, (well, info) in enumerate(layout.items()):
        mean = expected_nuclei(info["dose_um"]) if np.isfinite(info["dose_um"]) else FEWEST_NUCLEI
        for f in range(fields):
            field_seed = seed * 100_003 + i * 97 + f
            target = max(1, int(round(mean + np.random.default_rng(field_seed).integers(-1, 2))))
            jobs.append((well, f, target, field_seed))
    store = open_store(dest, mode="w")
    root = _zarr.open_group(store, mode="w" if overwrite else "w-", zarr_format=ngff.zarr_format_of(version))
    wells_json = [ngff.plate.well_json(row_names[v["row"]], col_names[v["column"]], v["row"], v["column"])
                  for v in layout.values()]
    for r in sorted({v["row"] for v in layout.values()}):
        root.create_group(row_names[r])
    for v in layout.values():
        grp = root[row_names[v["row"]]].create_group(col_names[v["column"]])
        grp.attrs.update(ngff.plate.well_attrs(version, [str(f) for f in range(fields)]))

    counts: dict[str, list[int]] = {w: [0] * fields for w in layout}

    def write(job: tuple[str, int, int, int]) -> None:
        well, f, target, field_seed = job
        data, n = plate_field(target, field_seed, size, planes)
        counts[well][f] = n
        path = f"{row_names[layout[well]['row']]}/{col_names[layout[well]['column']]}/{f}"
        # like IDR's plate 2551: c, z, y, x; a field in one chunk (one request, and few objects to serve)
        ngff.write_image(_child(dest, path), data, axes="czyx",
                         pixel_sizes={"z": Z_STEP_UM, "y": PIXEL_UM, "x": PIXEL_UM},
                         channel_names=list(CHANNELS), version=version, chunks=data.shape,
                         name=f"{well} field {f}", overwrite=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, jobs))
    truth = {
        "description": f"nuclei per field ({NUCLEAR_CHANNEL}, all planes) of a dose response along the columns; "
                       "controls in column 1",
        "nuclei": counts,
        "dose_um": {w: (v["dose_um"] if np.isfinite(v["dose_um"]) else "lethal") for w, v in layout.items()},
        "role": {w: v["role"] for w, v in layout.items()},
        "empty_wells": [w for w in EMPTY_WELLS if w[0] in row_names and w[1:] in col_names],
        "channels": list(CHANNELS),
        "nuclear_channel": NUCLEAR_CHANNEL,
        "ec50_um": EC50_UM,
        "parameters": params,
    }
    attrs = ngff.plate.plate_attrs(version, ngff.plate.plate_json(name, row_names, col_names, wells_json, fields))
    root.attrs.update({**attrs, "labkit_truth": truth})  # last: a plate with its truth is a complete plate
    return _result(str(dest), version, truth, pd)


def _child(dest: str | Path, path: str) -> str:
    base = str(dest)
    return f"{base.rstrip('/')}/{path}" if "://" in base else str(Path(base) / path)


def _result(path: str, version: str, truth: Mapping[str, Any], pd: Any) -> PlateTruth:
    records = []
    for well, per_field in truth["nuclei"].items():
        dose = truth["dose_um"][well]
        numeric = float("inf") if dose == "lethal" else float(dose)
        for f, n in enumerate(per_field):
            records.append({"well": well, "row": well.rstrip("0123456789"), "column": int(well.lstrip(
                string.ascii_uppercase)), "field": f, "role": truth["role"][well], "dose_um": numeric,
                "expected": expected_nuclei(numeric) if np.isfinite(numeric) else float(FEWEST_NUCLEI),
                "nuclei": int(n)})
    return PlateTruth(path=path, version=version, truth=dict(truth), table=pd.DataFrame.from_records(records))
