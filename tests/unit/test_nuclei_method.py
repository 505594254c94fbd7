"""The default nuclei method (labkit.nuclei_method) against expert truth, synthetic truth and its own blocking.

The real images are in the shared data folder ``<repository>/../shared/data/nuclei`` (or ``$LABKIT_NUCLEI_DATA``);
those tests are skipped when it is missing. Scores: objects matched one to one at IoU >= 0.5, F1, every true
object counted (BBBC039's specks under 25 px too).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest

from labkit.errors import FormatError
from labkit.nuclei_method import NucleiParameters, estimate_parameters, halo, segment, segment_block
from labkit.recipes import match_objects
from labkit.synthetic import touching_nuclei, touching_nuclei_volume

_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("LABKIT_NUCLEI_DATA", _ROOT.parent / "shared" / "data" / "nuclei"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no nuclei data with expert truth at {DATA} "
                                "(set LABKIT_NUCLEI_DATA to the folder holding bbbc039/, dsb2018_bbbc038/, ...)")
SPACING_3D = {"bbbc050_qcanet_3d": (1.75, 0.8, 0.8)}


def _scores(*sets: str) -> dict[str, float]:
    import tifffile

    scores = {}
    for name in sets:
        for path in sorted((DATA / name / "img").glob("*.tif")):
            image, truth = tifffile.imread(path), tifffile.imread(path.parent.parent / "gt" / path.name)
            labels = segment(image, SPACING_3D.get(name))
            scores[f"{name}/{path.stem[:12]}"] = match_objects(labels, truth)["f1"]
    if not scores:
        pytest.skip(f"no images in {[str(DATA / s) for s in sets]}")
    print({k: round(v, 3) for k, v in scores.items()})
    return scores


@needs_data
def test_bbbc039_mean_f1():
    scores = _scores("bbbc039")
    assert np.mean(list(scores.values())) >= 0.85, scores


@needs_data
def test_dsb2018_mean_f1():
    scores = _scores("dsb2018_bbbc038", "dsb2018_stardist")
    assert np.mean(list(scores.values())) >= 0.85, scores


@needs_data
def test_bbbc050_mouse_embryo_3d_f1():
    scores = _scores("bbbc050_qcanet_3d")
    assert np.mean(list(scores.values())) >= 0.8, scores


def test_synthetic_touching_nuclei_3d_f1():
    f1 = []
    for seed in range(3):
        vol = touching_nuclei_volume(seed=seed)
        f1.append(match_objects(segment(vol.image, (1.0, 0.5, 0.5)), vol.labels)["f1"])
    print("synthetic 3D touching nuclei F1", np.round(f1, 3))
    assert np.mean(f1) >= 0.9, f1


def test_touching_nuclei_volume_is_deterministic_and_counted():
    a, b, c = touching_nuclei_volume(seed=5), touching_nuclei_volume(seed=5), touching_nuclei_volume(seed=6)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.uint16 and a.labels.shape == a.image.shape == (48, 128, 128)
    assert list(a.counts) == [len(set(np.unique(p)) - {0}) for p in a.labels]
    assert int(a.labels.max()) == len(np.unique(a.labels)) - 1 >= 18


def _blockwise(image: np.ndarray, parameters: NucleiParameters, parts: int = 2) -> list[tuple[tuple, np.ndarray]]:
    """Cores of ``parts`` blocks per axis, each segmented with the halo around it (clipped at the image)."""
    margin = halo(parameters)
    cores = []
    edges = [np.linspace(0, n, parts + 1).astype(int) for n in image.shape]
    for index in itertools.product(range(parts), repeat=image.ndim):
        core = tuple(slice(e[i], e[i + 1]) for e, i in zip(edges, index, strict=True))
        ext = tuple(slice(max(0, c.start - m), min(n, c.stop + m))
                    for c, m, n in zip(core, margin, image.shape, strict=True))
        labels = segment_block(image[ext], parameters)
        inner = tuple(slice(c.start - e.start, c.stop - e.start) for c, e in zip(core, ext, strict=True))
        cores.append((core, labels[inner]))
    return cores


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_blocks_with_their_halo_give_the_whole_image_result(kind):
    if kind == "2d":  # large enough for the halo to be smaller than the image
        plane = touching_nuclei((640, 640), 160, seed=3)
        image, spacing = plane.image, None
    else:
        image, spacing = touching_nuclei_volume((48, 224, 224), 60, seed=2).image, (1.0, 0.5, 0.5)
    parameters = estimate_parameters([image], spacing)
    assert all(m < n for m, n in zip(halo(parameters)[-2:], image.shape[-2:], strict=True))  # the yx cuts are real
    whole = segment_block(image, parameters)
    f1 = []
    for core, labels in _blockwise(image, parameters):
        f1.append(match_objects(labels, whole[core])["f1"])
    print(kind, "block cores vs the whole image, F1", np.round(f1, 3))
    assert min(f1) >= 0.98, f1


def test_parameters_are_plain_and_the_halo_follows_the_spacing():
    import pickle

    p = NucleiParameters(spacing=(2.0, 0.5, 0.5), diameter=8.0, threshold=10.0)
    assert pickle.loads(pickle.dumps(p)) == p
    z, y, x = halo(p)
    assert y == x and 3.5 * z <= y <= 4.5 * z


def test_estimated_diameter_follows_the_nucleus_size():
    small = touching_nuclei((256, 256), 40, seed=1, radius=(4.0, 5.0)).image   # about 9 px across
    large = touching_nuclei((512, 512), 12, seed=1, radius=(28.0, 32.0)).image  # about 60 px across
    assert 6 <= estimate_parameters([small]).diameter <= 13
    assert 45 <= estimate_parameters([large]).diameter <= 75
    assert estimate_parameters([small], spacing=(0.5, 0.5), diameter=3.0).diameter == 3.0


def test_empty_image_gives_no_nuclei():
    p = NucleiParameters(spacing=(1.0, 1.0), diameter=10.0, threshold=50.0)
    assert not segment_block(np.full((64, 64), 20, np.uint16), p).any()


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((2, 3, 8, 8)), np.zeros((8, 8), complex)])
def test_bad_arrays_are_refused(bad):
    p = NucleiParameters(spacing=(1.0, 1.0), diameter=10.0, threshold=50.0)
    with pytest.raises(FormatError, match="2D|3D|real"):
        segment_block(bad, p)
    with pytest.raises(FormatError):
        estimate_parameters([bad])


def test_bad_arguments_are_refused():
    image = touching_nuclei((96, 96), 4, seed=0).image
    with pytest.raises(FormatError, match="spacing"):
        estimate_parameters([image], spacing=(1.0, 1.0, 1.0))
    with pytest.raises(FormatError, match="diameter"):
        estimate_parameters([image], diameter=-3)
    with pytest.raises(FormatError, match="list"):
        estimate_parameters(image)
    with pytest.raises(FormatError, match="3D images"):
        segment_block(image, NucleiParameters(spacing=(1.0, 1.0, 1.0), diameter=5.0, threshold=1.0))
