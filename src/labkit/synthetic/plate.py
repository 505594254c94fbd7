"""A synthetic OME-NGFF HCS plate with known truth: nuclei per field follow a dose response along the columns.

Layout of the default 96-well plate (8 rows A-H, 12 columns 1-12, 2 fields a well):

* column 1 holds the controls: rows A-D negative (no compound, the most nuclei), rows E-H positive
  (a lethal compound, the fewest);
* columns 2-12 a dilution series, 1:3 from 0.01 uM (column 2) to 590 uM (column 12): the expected
  nuclei per field fall from :data:`MOST_NUCLEI` to :data:`FEWEST_NUCLEI` along a Hill curve
  (EC50 :data:`EC50_UM`, slope 1), each field drawing its own count around it;
* a few wells (C5, F9, H12) are empty: no image, left out of the plate's ``wells``.

Each field is two channels, ``DAPI`` (touching nuclei, :func:`labkit.synthetic.touching_nuclei`) and ``Actin``
(a ring of cytoplasm around each nucleus), 128 x 128 pixels of 0.65 um, written by :func:`labkit.ngff.write_image`.
The truth (nuclei in every field, doses, roles, empty wells) is stored in the plate's attributes under
``labkit_truth`` and returned.

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
MOST_NUCLEI, FEWEST_NUCLEI = 16, 2
#: the compound's half-effect concentration (uM) and the dilution series
EC50_UM, FIRST_DOSE_UM, DILUTION = 1.0, 0.01, 3.0
CHANNELS = ("DAPI", "Actin")
PIXEL_UM = 0.65
#: wells left empty (no image) in a plate large enough to have them
EMPTY_WELLS = ("C5", "F9", "H12")
#: version of this writer's output: a plate written by an older one is not reused
WRITER = 1


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
    (16.0, 9.0)
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


def plate_field(n_target: int, seed: int, size: int = 128) -> tuple[np.ndarray, int]:
    """One field (``DAPI``, ``Actin``; ``(2, size, size)`` uint16) with about ``n_target`` nuclei; and their count."""
    from scipy import ndimage

    from labkit.synthetic.nuclei import touching_nuclei

    plane = touching_nuclei((size, size), n_target, seed=seed, radius=(6.0, 9.0), touching=0.3)
    count = len(np.unique(plane.labels)) - int((plane.labels == 0).any())
    rng = np.random.default_rng(seed + 1)
    cells = ndimage.grey_dilation(plane.labels, size=(9, 9)) > 0
    ring = cells & (plane.labels == 0)
    actin = ndimage.gaussian_filter(np.where(ring, 600.0, 120.0), 1.0) + rng.normal(0, 6, (size, size))
    return np.stack([plane.image, np.clip(actin, 0, 65535).astype(np.uint16)]), count


def hcs_plate(
    dest: str | Path,
    rows: int = 8,
    columns: int = 12,
    fields: int = 2,
    *,
    version: str = "0.4",
    size: int = 128,
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
    size : int
        Field side in pixels.
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

    params = {"rows": rows, "columns": columns, "fields": fields, "version": version, "size": size, "seed": seed,
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
    zarr_format = 2 if version == "0.4" else 3
    store = open_store(dest, mode="w")
    root = _zarr.open_group(store, mode="w" if overwrite else "w-", zarr_format=zarr_format)
    wells_json = [{"path": f"{row_names[v['row']]}/{col_names[v['column']]}", "rowIndex": v["row"],
                   "columnIndex": v["column"]} for v in layout.values()]
    for r in sorted({v["row"] for v in layout.values()}):
        root.create_group(row_names[r])
    for w in wells_json:
        grp = root[w["path"].split("/")[0]].create_group(w["path"].split("/")[1])
        images = [{"path": str(f), "acquisition": 0} for f in range(fields)]
        grp.attrs.update({"well": {"images": images, "version": "0.4"}} if version == "0.4"
                         else {"ome": {"version": "0.5", "well": {"images": images}}})

    counts: dict[str, list[int]] = {w: [0] * fields for w in layout}

    def write(job: tuple[str, int, int, int]) -> None:
        well, f, target, field_seed = job
        data, n = plate_field(target, field_seed, size)
        counts[well][f] = n
        path = f"{row_names[layout[well]['row']]}/{col_names[layout[well]['column']]}/{f}"
        ngff.write_image(_child(dest, path), data, axes="cyx", pixel_sizes={"y": PIXEL_UM, "x": PIXEL_UM},
                         channel_names=list(CHANNELS), version=version, chunks=(2, size, size),
                         name=f"{well} field {f}", overwrite=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, jobs))
    truth = {
        "description": "nuclei per field (DAPI) of a dose response along the columns; controls in column 1",
        "nuclei": counts,
        "dose_um": {w: (v["dose_um"] if np.isfinite(v["dose_um"]) else "lethal") for w, v in layout.items()},
        "role": {w: v["role"] for w, v in layout.items()},
        "empty_wells": [w for w in EMPTY_WELLS if w[0] in row_names and w[1:] in col_names],
        "channels": list(CHANNELS),
        "ec50_um": EC50_UM,
        "parameters": params,
    }
    plate = {"name": name, "rows": [{"name": n} for n in row_names], "columns": [{"name": n} for n in col_names],
             "wells": wells_json, "field_count": fields,
             "acquisitions": [{"id": 0, "name": "synthetic", "maximumfieldcount": fields}]}
    if version == "0.4":
        attrs = {"plate": {"version": "0.4", **plate}}
    else:
        # ome-zarr-py writes the plate's version here too (and ome-zarr-models warns without it)
        attrs = {"ome": {"version": "0.5", "plate": {"version": "0.5", **plate}}}
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
