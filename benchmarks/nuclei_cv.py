"""Choose the default nuclei method's constants by cross-validation on the development set; write the held-out figures.

    cd <repository> && PYTHONPATH=src:. python benchmarks/nuclei_cv.py        # about 15 minutes on one core

Each set's scores on the grid are cached (``$LABKIT_NUCLEI_CV_CACHE``, default
``/tmp/labkit-nuclei-cv-grid.json``); ``--cached`` reuses the sets found there (delete a set's entry, "2d" or
"3d", to re-run it after changing the method for those images only).

The development set (``nuclei_data.py``): 43 BBBC039 fields, 54 DSB2018 fluorescence images, the StarDist
sample (2D, expert truth); the 16-cell BBBC050 embryo (3D, expert truth) with three variants of it (the same
nuclei under z attenuation, a cytoplasmic haze and fourfold uneven brightness: what another stage or microscope
may show), and labkit's synthetic 3D volumes of nine seeds, nucleus sizes (5-24 µm), z anisotropies (1-3.1) and
brightness. Only one 3D volume has expert truth: the synthetic volumes are the other 3D folds.

Each image is put in one of ``FOLDS`` folds (every third image of a set, in name order; the embryo and its
variants together). For each fold, the constants are those with the best score on the *other* folds (mean over
sets of the mean F1, minus half the log of the median size ratio of matched objects beyond 5 %); the fold's images
are then scored with them. Those held-out figures are what the README and the tests report. The constants of
2D and 3D images are chosen separately (on 2D and 3D sets). The final constants (``nuclei_method``) are the
choice on all folds. The grid and every image's figures are written to ``tests/unit/nuclei_cv.json``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nuclei_data as nd  # noqa: E402

from labkit import nuclei_method as nm  # noqa: E402

OUT = nd.ROOT / "tests" / "unit" / "nuclei_cv.json"
FOLDS = 3
SETS_2D = ("bbbc039", "dsb2018_bbbc038", "dsb2018_stardist")
SETS_3D = ("bbbc050_qcanet_3d", "bbbc050_variants", "synthetic_3d")
# constants searched: the own-edge fraction is applied after the watershed (one segmentation scores them all);
# the others need a segmentation each
EDGES = (0.0, 0.3, 0.4, 0.42, 0.43, 0.44, 0.45, 0.5, 0.55, 0.6, 0.7)
# the glow test's exception (_GLOW_MIDDLE: a dim nucleus against a bright one keeps its seed's brightness) only
# matters where the test is on (_SHOULDER > 0)
GRID_3D = {"_SHOULDER": (0.0, 2.0, 3.0), "_GLOW_MIDDLE": (0.0, 0.65, 0.75, 0.85)}
# in 2D a shoulder test (2.0) was never chosen on any fold (nuclei_cv.json of 2026-12-06), nor the seeds' distance
# from the foreground alone (_TIGHT 0, against 0.65; 2026-12-07): the check of clumps is searched instead
GRID_2D = {"_SHOULDER": (0.0,), "_TIGHT": (0.65,), "_CLUMPED": (0.0, 1.4, 1.6)}


def folds(keys: list[str]) -> dict[str, int]:
    """Fold of every ``set/name``: every FOLDS-th image of a set in name order; the embryo's variants with it."""
    out = {}
    for s in sorted({k.split("/")[0] for k in keys}):
        names = sorted(k for k in keys if k.startswith(s + "/"))
        for i, k in enumerate(names):
            out[k] = 0 if s.startswith("bbbc050") else i % FOLDS
    return out


def _set(name: str, value: float, dim: int) -> None:
    """Set a constant of nuclei_method; a (2D, 3D) pair only in its ``dim`` entry."""
    old = getattr(nm, name)
    if isinstance(old, tuple):
        value = (value, old[1]) if dim == 2 else (old[0], value)
    setattr(nm, name, value)


def _grid_scores(its, grid: dict[str, tuple], dim: int) -> dict[str, dict[str, dict]]:
    """``{config: {set/name: score}}`` for every combination of ``grid`` and every own-edge fraction."""
    original = {name: getattr(nm, name) for name in grid}
    own_edge, bounded = nm._own_edge, nm._bounded
    captured: dict = {}

    def hook_edge(labels, corr, n, fraction, parameters):
        captured.update(labels=labels.copy(), corr=corr, n=n)
        return labels

    def hook_bounded(labels, seeds, parameters):
        captured.update(seeds=seeds, parameters=parameters)
        return bounded(labels, seeds, parameters)

    out: dict[str, dict[str, dict]] = {}
    its = list(its)
    try:
        nm._own_edge, nm._bounded = hook_edge, hook_bounded
        for values in itertools.product(*grid.values()):
            for name, v in zip(grid, values, strict=True):
                _set(name, v, dim)
            for it in its:
                t0 = time.perf_counter()
                captured.clear()
                nm.segment(it.image, it.spacing)
                for f in EDGES:
                    key = json.dumps({**dict(zip(grid, values, strict=True)), "_OWN_EDGE": f}, sort_keys=True)
                    if "labels" in captured:
                        lab = own_edge(captured["labels"], captured["corr"], captured["n"], f,
                                       captured["parameters"])
                        lab, _ = bounded(lab, captured["seeds"], captured["parameters"])
                    else:
                        lab = np.zeros(it.truth.shape, np.int32)
                    out.setdefault(key, {})[f"{it.set}/{it.name}"] = nd.score(lab, it.truth)
                print(values, it.set, it.name, f"{time.perf_counter() - t0:.1f} s", flush=True)
    finally:
        nm._own_edge, nm._bounded = own_edge, bounded
        for name, v in original.items():
            setattr(nm, name, v)
    return out


def _group(key: str) -> str:
    """The set an image counts in for the objective: the embryo's variants share its truth, so count with it."""
    name = key.split("/")[0]
    return "bbbc050" if name.startswith("bbbc050") else name


def objective(scores: dict[str, dict], keys: list[str]) -> float:
    """Mean over sets of the mean F1, minus half of how far (log) each set's median size ratio is beyond 5 %.

    The embryo and its variants count as one set (one truth).

    Sizes within 5 % of the truth's count as right (the truths disagree by that much: the embryo's annotators
    drew nuclei a little larger than their half-maximum, the synthetic truth is the ellipsoid before the blur);
    on a tie the earlier constants in the grid (the smaller edge fraction) win.
    """
    total = []
    for s in sorted({_group(k) for k in keys}):
        mine = [scores[k] for k in keys if _group(k) == s]
        ratio = np.nanmedian([m["size_ratio"] for m in mine])
        penalty = 0.5 * max(0.0, abs(math.log(ratio)) - math.log(1.05)) if np.isfinite(ratio) and ratio > 0 else 1.0
        total.append(np.mean([m["f1"] for m in mine]) - penalty)
    return float(np.mean(total))


def cross_validate(grid_scores: dict[str, dict[str, dict]]) -> dict:
    keys = sorted(next(iter(grid_scores.values())))
    fold = folds(keys)
    chosen, held = {}, {}
    for k in range(FOLDS):
        train = [key for key in keys if fold[key] != k]
        test = [key for key in keys if fold[key] == k]
        if not test:
            continue
        best = max(grid_scores, key=lambda c: objective(grid_scores[c], train))
        chosen[str(k)] = json.loads(best)
        for key in test:
            held[key] = {"fold": k, **{m: round(v, 4) for m, v in grid_scores[best][key].items()
                                       if m in ("f1", "size_ratio", "found", "true", "matched")}}
    final = max(grid_scores, key=lambda c: objective(grid_scores[c], keys))
    return {"folds_constants": chosen, "final": json.loads(final), "held_out": held}


def summary(held: dict) -> dict:
    out = {}
    for s in sorted({k.split("/")[0] for k in held}):
        mine = {k: v for k, v in held.items() if k.startswith(s + "/")}
        worst = min(mine, key=lambda k: mine[k]["f1"])
        out[s] = {"images": len(mine), "mean_f1": round(float(np.mean([v["f1"] for v in mine.values()])), 4),
                  "worst": worst, "worst_f1": mine[worst]["f1"],
                  "median_size_ratio": round(float(np.nanmedian([v["size_ratio"] for v in mine.values()])), 4)}
    return out


def main() -> None:
    cache = Path(os.environ.get("LABKIT_NUCLEI_CV_CACHE", "/tmp/labkit-nuclei-cv-grid.json"))
    grids = json.loads(cache.read_text()) if cache.exists() and "--cached" in sys.argv else {}
    for dim, sets, grid in (("3d", SETS_3D, GRID_3D), ("2d", SETS_2D, GRID_2D)):
        if dim not in grids:
            grids[dim] = _grid_scores(nd.items(sets), grid, int(dim[0]))
            cache.write_text(json.dumps(grids))
    result = {"about": "held-out figures of the default nuclei method (benchmarks/nuclei_cv.py): each image scored "
                       "with the constants chosen on the other folds; F1 at IoU >= 0.5, size_ratio = median size "
                       "of matched objects / the truth's", "folds": FOLDS}
    for dim in ("2d", "3d"):
        cv = cross_validate(grids[dim])
        result[dim] = {**cv, "summary": summary(cv["held_out"])}
        print(dim, json.dumps(result[dim]["summary"], indent=1), "folds", cv["folds_constants"], "final", cv["final"])
    OUT.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
