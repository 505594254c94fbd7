"""labkit.train_nuclei: a model trained on labelled images, scored on images kept apart from its training.

The real images are in the shared data folder ``<repository>/../shared/data/nuclei`` (or ``$LABKIT_NUCLEI_DATA``);
those tests are skipped when it is missing. Scores: objects matched one to one at IoU >= 0.5, F1.

Kept apart:
- DSB2018: trained on 6 images of the development set (one per kind: small crowded nuclei, 360x360 large nuclei,
  256x256 with small, medium and large nuclei, 520x696 large nuclei). The other 47 (the Drosophila embryo whose
  truth marks only the rim nuclei left out) were split in two by file-name order: the even ones chose the
  post-processing (seeds, sizes), the odd ones (23 images) score it here, never seen while choosing anything.
- The 3D embryo: the development set has one (16-cell stage), and the other stage is not reachable here; trained
  on one half of it (x < 61), scored on the other half (x >= 61), and the reverse. As a stand-in for another stage,
  the model trained on the whole embryo segments it resampled so that its nuclei have half their volume (as at the
  32-cell stage) or twice (8 cells): same voxel size, nuclei of another size.

Sizes: the median area (volume) of matched nuclei over their truth's (``size_ratio``).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason='labkit.train_nuclei needs scikit-learn (pip install "labkit[train]")')

import labkit  # noqa: E402
from labkit import errors  # noqa: E402
from labkit.nuclei_model import FORMAT_VERSION, load_nuclei_model, train_nuclei  # noqa: E402
from labkit.recipes import match_objects  # noqa: E402
from labkit.segment import segment_nuclei  # noqa: E402
from labkit.synthetic import touching_nuclei, touching_nuclei_volume  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from nuclei_data import PARTIAL_TRUTH, resampled_embryo, score  # noqa: E402  (score: F1 and the size ratio)

_ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("LABKIT_NUCLEI_DATA", _ROOT.parent / "shared" / "data" / "nuclei"))
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no nuclei data with expert truth at {DATA} "
                                "(set LABKIT_NUCLEI_DATA to the folder holding bbbc039/, dsb2018_bbbc038/, ...)")
DSB_TRAIN = ("07fb37aa", "45cc00f2", "ed4b8e0d", "1d4a5e72", "3ab9cab6", "8c3ef7aa")
EMBRYO_SPACING = (1.75, 0.8, 0.8)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import tifffile

    return tifffile.imread(path), tifffile.imread(path.parent.parent / "gt" / path.name)


def _dsb() -> tuple[list[Path], list[Path]]:
    paths = sorted((DATA / "dsb2018_bbbc038" / "img").glob("*.tif"))
    train = [p for p in paths if p.stem[:8] in DSB_TRAIN]
    apart = [p for p in paths if p.stem[:8] not in DSB_TRAIN and f"dsb2018_bbbc038/{p.stem}" not in PARTIAL_TRUTH]
    if len(train) != len(DSB_TRAIN):
        pytest.skip(f"the DSB2018 training images {DSB_TRAIN} are not all in {DATA}")
    return train, apart[1::2]


@needs_data
@pytest.mark.timeout(900)  # 40 s alone; 220-300 s in make test's busy suite, where 300 s (the default) cut it once
def test_trained_on_6_dsb2018_images_it_segments_the_others():
    train, test = _dsb()
    pairs = [_read(p) for p in train]
    model = train_nuclei([i for i, _ in pairs], [g for _, g in pairs], names=[p.name for p in train], seed=0,
                         progress=False)  # the defaults: boosting, 10 000 voxels per image
    scores, sizes = {}, []
    for path in test:
        image, truth = _read(path)
        result = score(model.segment(image), truth)
        scores[path.stem[:8]] = result["f1"]
        sizes.append(result["size_ratio"])
    print(f"{model!r}: {model.nbytes} bytes; F1 on {len(scores)} images kept apart: mean "
          f"{np.mean(list(scores.values())):.3f}, worst {min(scores.values()):.3f}, size {np.median(sizes):.2f}",
          {k: round(v, 2) for k, v in scores.items()})
    assert len(scores) == 23
    # issue 32 asks 0.85: boosting and distance seeds reach 0.88-0.89 here, seeds 0 and 1 (0.88-0.89 on the even
    # half that chose them; the 12-tree forest with sure-part seeds 0.815-0.83): the README gives the figures
    assert np.mean(list(scores.values())) >= 0.87, scores
    assert min(scores.values()) >= 0.6, scores
    # probabilities corrected to the classes' shares: true sizes (1.31 without the correction)
    assert 0.9 <= np.median(sizes) <= 1.1, sizes


@needs_data
@pytest.mark.parametrize("train_half", [0, 1])
def test_trained_on_half_the_3d_embryo_it_segments_the_other_half(train_half):
    image, truth = _read(DATA / "bbbc050_qcanet_3d" / "img" / "16_cell_stage.tif")
    half = image.shape[2] // 2
    parts = [np.s_[:, :, :half], np.s_[:, :, half:]]
    fit, apart = parts[train_half], parts[1 - train_half]
    model = train_nuclei([image[fit]], [truth[fit]], spacing=EMBRYO_SPACING, progress=False)
    result = score(model.segment(image[apart], spacing=EMBRYO_SPACING), truth[apart])
    print(f"embryo, trained on half {train_half}: {model.nbytes} bytes", result)
    assert result["f1"] >= 0.85, result  # 0.95 and 0.90 (of 10 and 11 nuclei)
    # 1.02 and 0.99; 1.14 and 1.21 with background drawn uniformly, 1.31 and 1.34 without the probabilities' correction
    assert 0.9 <= result["size_ratio"] <= 1.1, result


@pytest.fixture(scope="module")
def embryo_model():
    image, truth = _read(DATA / "bbbc050_qcanet_3d" / "img" / "16_cell_stage.tif")
    return train_nuclei([image], [truth], spacing=EMBRYO_SPACING, progress=False)


@needs_data
@pytest.mark.parametrize("volume", [0.5, 2.0])
def test_trained_on_the_3d_embryo_it_segments_nuclei_of_another_size(volume, embryo_model):
    """A stand-in for an embryo of another stage: the same embryo resampled, nuclei of half or twice the volume."""
    item = resampled_embryo(volume)
    result = score(embryo_model.segment(item.image, spacing=item.spacing), item.truth)
    print(f"embryo resampled to nuclei of {volume} x their volume:", result)
    # 1.00 and 1.00; without the probabilities' correction the smaller nuclei merged (0.25)
    assert result["f1"] >= 0.9, result
    assert 0.9 <= result["size_ratio"] <= 1.25, result  # 1.18 and 1.06 (1.91 and 1.34 before both corrections)


@pytest.fixture(scope="module")
def plane_model():
    plane = touching_nuclei(seed=3)
    return train_nuclei([plane.image], [plane.labels], rounds=20, pixels=4000, seed=7, progress=False)


def test_training_is_seeded_and_reproducible(plane_model):
    plane, other = touching_nuclei(seed=3), touching_nuclei(seed=4)
    again = train_nuclei([plane.image], [plane.labels], rounds=20, pixels=4000, seed=7, progress=False)
    assert again.id == plane_model.id
    np.testing.assert_array_equal(again.predict_proba(other.image), plane_model.predict_proba(other.image))
    np.testing.assert_array_equal(again.segment(other.image), plane_model.segment(other.image))
    assert train_nuclei([plane.image], [plane.labels], rounds=20, pixels=4000, seed=8, progress=False).id \
        != plane_model.id
    assert match_objects(plane_model.segment(other.image), other.labels)["f1"] > 0.8


def test_the_model_runs_block_by_block_in_segment_nuclei_and_is_named_in_the_labels(plane_model):
    other = touching_nuclei((256, 256), seed=5)
    block_fn, halo = plane_model.blockwise([other.image])
    assert len(pickle.dumps(block_fn)) < 5_000_000  # small enough to ship to workers
    whole = plane_model.segment(other.image)
    labels = segment_nuclei(other.image, method=plane_model, chunks=(128, 128))
    assert labels.attrs["method"]["model_id"] == plane_model.id
    assert len(labels.data.chunks[0]) > 1 and labels.attrs["halo"] == list(halo)
    blocks = labels.values
    assert match_objects(blocks, whole)["f1"] == 1.0  # the same objects whatever the blocks
    assert match_objects(blocks, other.labels)["f1"] > 0.8


@pytest.mark.slow  # 20-70 s (3D filters at four scales on 2 x 0.8 Mi voxels)
def test_a_3d_model_on_synthetic_volumes_in_physical_units():
    train, test = touching_nuclei_volume(seed=1), touching_nuclei_volume(seed=2)
    model = train_nuclei([train.image], [train.labels], spacing=(1.0, 0.5, 0.5), progress=False,
                         pixels=6000)
    import xarray as xr

    image = xr.DataArray(test.image, dims=("z", "y", "x"),
                         coords={d: xr.DataArray(np.arange(n) * s, dims=d, attrs={"units": "micrometer"})
                                 for d, n, s in zip("zyx", test.image.shape, (1.0, 0.5, 0.5), strict=True)})
    labels = segment_nuclei(image, method=model)  # voxel sizes from the coordinates (blocks: the 2D test)
    result = score(labels.values, test.labels)
    print("synthetic 3D, kept apart (seed 2):", result)
    assert result["f1"] >= 0.85, result
    assert 0.9 <= result["size_ratio"] <= 1.1, result  # 0.99 (1.27 before both corrections)


def test_save_and_load_keep_the_model_and_its_provenance(plane_model, tmp_path):
    url = plane_model.save(tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION and manifest["model_id"] == plane_model.id
    record = manifest["provenance"]["training_images"][0]
    assert len(record["sha256"]) == 64 and record["shape"] == [256, 256] and record["nuclei"] > 10
    assert manifest["parameters"]["seed"] == 7 and manifest["provenance"]["versions"]["scikit-learn"]
    loaded = labkit.load_nuclei_model(url)
    assert loaded.id == plane_model.id and loaded.url == url
    other = touching_nuclei(seed=4)
    np.testing.assert_array_equal(loaded.segment(other.image), plane_model.segment(other.image))
    labels = segment_nuclei(other.image, method=loaded)
    assert labels.attrs["method"] == {"name": "labkit.nuclei_model", "model_id": plane_model.id,
                                      "format_version": FORMAT_VERSION, "url": url}
    import zarr

    from labkit import ngff

    image_url = tmp_path / "plane.ome.zarr"  # labels written as NGFF name the model in their metadata
    ngff.write_image(image_url, other.image, axes="yx", pixel_sizes={"y": 1.0, "x": 1.0}, version="0.5")
    labkit.write_labels(image_url, labels, "nuclei")
    recorded = zarr.open_group(image_url / "labels" / "nuclei", mode="r").attrs["labkit"]["method"]
    assert recorded["model_id"] == plane_model.id and recorded["url"] == url
    with pytest.raises(errors.AlreadyExistsError, match="overwrite=True"):
        plane_model.save(url)
    plane_model.save("memory://models/plane")  # any result store URL (s3:// through the same storage layer)
    assert load_nuclei_model("memory://models/plane").id == plane_model.id


def test_a_model_from_a_newer_labkit_or_damaged_is_refused(plane_model, tmp_path):
    url = plane_model.save(tmp_path / "model")
    path = tmp_path / "model" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(errors.FormatError, match=f"format version {FORMAT_VERSION + 1}.*upgrade labkit"):
        load_nuclei_model(url)
    path.write_text(json.dumps(manifest))
    forest = tmp_path / "model" / "forest.joblib"
    forest.write_bytes(forest.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(errors.IntegrityError, match="changed or damaged"):
        load_nuclei_model(url)
    with pytest.raises(errors.NotFoundError, match="model.save"):
        load_nuclei_model(tmp_path / "nothing")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(errors.FormatError, match="not a labkit nuclei model"):
        load_nuclei_model(tmp_path / "other")


def test_a_2d_model_refuses_a_volume_and_a_3d_model_a_plane(plane_model):
    with pytest.raises(errors.FormatError, match="trained on 2D images and cannot segment a 3D image.*plane by plane"):
        segment_nuclei(np.zeros((8, 32, 32), np.uint16), method=plane_model)
    with pytest.raises(errors.FormatError, match="trained on 2D images"):
        plane_model.segment(np.zeros((8, 32, 32)))
    vol = touching_nuclei_volume((12, 48, 48), 4, seed=1)
    model3d = train_nuclei([vol.image], [vol.labels], spacing=(1.0, 0.5, 0.5), rounds=5, pixels=600,
                           progress=False)
    with pytest.raises(errors.FormatError, match="trained on 3D images and cannot segment a 2D image"):
        segment_nuclei(np.zeros((32, 32), np.uint16), method=model3d)


@pytest.mark.parametrize(
    "images, labels, words",
    [
        ([np.zeros((32, 32))], [np.zeros((32, 30), int)], "shape (32, 32) but its labels have shape (32, 30)"),
        ([np.zeros((32, 32))], [np.full((32, 32), 0.5)], "float64, not integers"),
        ([np.zeros((32, 32))], [np.zeros((32, 32), int)], "no image has a labelled nucleus"),
        ([np.zeros((32, 32)), np.zeros((4, 32, 32))], [np.ones((32, 32), int), np.ones((4, 32, 32), int)],
         "mix 2D and 3D"),
        ([np.zeros((32, 32))], [], "1 image and 0 label images"),
        (np.zeros((32, 32)), np.ones((32, 32), int), "lists of images"),
    ],
)
def test_bad_training_input_is_a_clear_error(images, labels, words):
    with pytest.raises(errors.FormatError) as caught:
        train_nuclei(images, labels, progress=False)
    assert words in str(caught.value), caught.value


def test_an_image_without_labels_is_used_as_background_with_a_warning():
    plane = touching_nuclei(seed=3)
    with pytest.warns(UserWarning, match="image 1 has no labelled nucleus: used as background"):
        model = train_nuclei([plane.image, plane.image[:64, :64] * 0 + 100], [plane.labels, np.zeros((64, 64), int)],
                             rounds=5, pixels=600, progress=False)
    assert model.ndim == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_nuclei([plane.image], [plane.labels.astype(float)], rounds=5, pixels=600, progress=False)  # whole


def test_a_format_1_forest_saved_by_the_previous_labkit_still_loads_and_segments_alike(tmp_path):
    plane, other = touching_nuclei(seed=3), touching_nuclei(seed=4)
    forest = train_nuclei([plane.image], [plane.labels], classifier="forest", trees=4, pixels=4000, seed=2,
                          progress=False)
    assert "seeds" not in forest.parameters and forest.parameters["trees"] == 4  # what format 1 recorded
    url = forest.save(tmp_path / "model")
    path = tmp_path / "model" / "manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "format_version": 1}))
    loaded = load_nuclei_model(url)
    assert loaded.id == forest.id
    np.testing.assert_array_equal(loaded.segment(other.image), forest.segment(other.image))
    assert match_objects(loaded.segment(other.image), other.labels)["f1"] > 0.8
    with pytest.raises(errors.FormatError, match="rounds= for the default boosting"):
        train_nuclei([plane.image], [plane.labels], trees=4, progress=False)
    with pytest.raises(errors.FormatError, match="'boosting'.*'forest'"):
        train_nuclei([plane.image], [plane.labels], classifier="svm", progress=False)


@pytest.mark.parametrize("nd", [2, 3])
def test_hessian_eigenvalues_in_closed_form_equal_lapacks(nd):
    from labkit.nuclei_model import _hessian_eigenvalues

    rng = np.random.default_rng(nd)
    n = 20_000
    matrices = rng.normal(size=(n, nd, nd)) * rng.lognormal(0, 3, size=(n, 1, 1))
    matrices = (matrices + np.swapaxes(matrices, 1, 2)) / 2
    matrices[:100] = np.eye(nd) * rng.normal(size=(100, 1, 1))  # isotropic: one eigenvalue, thrice
    matrices[100:200] = 0
    if nd == 3:  # two equal eigenvalues, rotated
        q, _ = np.linalg.qr(rng.normal(size=(100, 3, 3)))
        diagonal = np.zeros((100, 3, 3))
        diagonal[:, [0, 1, 2], [0, 1, 2]] = rng.normal(size=(100, 1)) * [1, 1, 1] + [0, 0, 1]
        matrices[200:300] = q @ diagonal @ np.swapaxes(q, 1, 2)
    matrices = matrices.astype(np.float32)
    second = {(i, j): matrices[:, i, j].reshape(100, n // 100) for i in range(nd) for j in range(i, nd)}
    got = np.stack(_hessian_eigenvalues(second, nd), axis=-1).reshape(n, nd)
    want = np.linalg.eigvalsh(matrices.astype(np.float64))
    scale = np.abs(want).max(axis=1, keepdims=True) + 1e-30
    assert got.dtype == np.float32
    assert (np.abs(got - want) / scale).max() < 1e-6  # float32's own rounding
