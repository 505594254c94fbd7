"""A nuclei method that learns from a scientist's own labels: a pixel classifier, as ilastik's.

:func:`train_nuclei` fits gradient-boosted trees (or a random forest; scikit-learn) that tell, voxel by voxel,
background, the inside of a nucleus and its boundary (the outermost voxels of every labelled nucleus, so two
touching nuclei are parted by two voxels of boundary) from filters of the intensity at several scales given in
physical units (smoothed intensity, gradient magnitude, Laplacian and Hessian eigenvalues of a Gaussian). The
classes weigh alike in training; the model's probabilities are then corrected (Bayes' rule) to the classes' shares
in the training labels, so that a voxel is inside a nucleus only when that is more likely than not on images like
the training ones, and nuclei keep their true size (format 3; uncorrected, DSB2018 nuclei came out 31 % too
large). A :class:`NucleiModel` then segments an image: seeds where "inside" is sure (in 2D with boosting, the
maxima of the distance to the background times the smoothed "inside" probability; else the parts where that
probability is above one half), grown by a seeded watershed over everything that is not background. Every
filter has a bounded reach, so :func:`labkit.segment_nuclei` runs the model block by block with a halo, on a laptop
or a cluster.

Training reads a few to a few dozen labelled images (2D or 3D) and fits in seconds to minutes on a CPU; the
model is a few megabytes, ships to Dask workers, and is kept in a result store with its provenance
(:meth:`NucleiModel.save`, :func:`load_nuclei_model`). Needs ``pip install "labkit[train]"`` (scikit-learn).

Examples
--------
>>> from labkit.synthetic import touching_nuclei
>>> from labkit.segment import segment_nuclei
>>> train, test = touching_nuclei(seed=3), touching_nuclei(seed=4)
>>> model = train_nuclei([train.image], [train.labels], rounds=20, progress=False)
>>> labels = segment_nuclei(test.image, method=model)
>>> labels.attrs["method"]["model_id"] == model.id
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import platform
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from labkit._bars import progress_bar
from labkit._images import distance_to_outside, label_maxima
from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import FormatError, IntegrityError

__all__ = ["FORMAT", "FORMAT_VERSION", "NucleiModel", "load_nuclei_model", "train_nuclei"]

#: the kind of folder a saved model is (``manifest.json``'s ``format``)
FORMAT = "labkit.nuclei_model"
#: the version of that format this labkit writes and reads (a newer one is refused with a clear error)
FORMAT_VERSION = 3  # 3: probabilities corrected to the classes' shares; 2: gradient boosting and seeds from the
# distance map; 1: a forest and sure seeds (each older one still loads and segments as it did)
MANIFEST = "manifest.json"
FOREST = "forest.joblib"
#: default filter scales, in voxels of the finest axis (recorded in physical units)
SIGMAS = (1.0, 2.0, 4.0, 8.0)
CLASSES = ("background", "inside", "boundary")
_LOW, _HIGH = 1.0, 99.8  # percentiles of the intensity mapped to 0 and 1
_MIN_SIZE = 0.15  # smallest object: this fraction of the median training nucleus' volume (area)
_SEED = 0.5  # "inside" probability (smoothed) above which a voxel is surely inside a nucleus
_COMPACT = 1.6  # a sure part is one nucleus when its equivalent diameter is at most this times its inscribed one
_DEPTH = 0.1  # ... else a seed per maximum of its distance map rising this fraction of its radius above saddles
_DEEP = 0.5  # ... at least this fraction of the inscribed radius from the edge
# format 2's seeds: maxima of (distance to the background) x (smoothed "inside" probability) rising this many voxels
# of the finest axis above their saddles (chosen on the even half of DSB2018, nuclei_model tests)
_HEIGHT = 3.0
# in 3D with boosting, half of the background drawn for training lies within this many voxels of the finest axis
# of a nucleus (4, 5, 6, 8 tried on the embryo's halves and synthetic volumes: 4 too small, 8 too large)
_NEAR = 6.0


class NucleiModel:
    """A trained nuclei segmenter: give it as ``method=`` to :func:`labkit.segment_nuclei`.

    Made by :func:`train_nuclei` or :func:`load_nuclei_model`, not directly. Called on one block (a numpy array
    of the training's voxel size) it returns the block's labels, like any method; :func:`labkit.segment_nuclei`
    instead calls :meth:`blockwise`, which sets the intensity scale once for the whole image and the filters
    from the image's voxel size.

    Attributes
    ----------
    id : str
        A hash of the forest and its parameters: the same training gives the same id.
    ndim : int
        2 or 3, the dimensionality it was trained on (and applies to).
    spacing : tuple of float
        Voxel size of the training images (physical units, or 1.0 = pixels).
    sigmas : tuple of float
        Scales of the filters, in the units of ``spacing``.
    diameter : float
        Median equivalent diameter of the training nuclei, in the units of ``spacing``.
    provenance : dict
        What made it: training images (shape, dtype, sha256 of pixels and labels, names), parameters, seed,
        package versions, time, and (once saved or loaded) its URL.

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> plane = touching_nuclei(seed=3)
    >>> model = train_nuclei([plane.image], [plane.labels], rounds=20, progress=False)
    >>> model.ndim, len(model.id)
    (2, 16)
    """

    def __init__(self, forest: Any, parameters: Mapping[str, Any], provenance: Mapping[str, Any]) -> None:
        self.forest = forest
        self.parameters = dict(parameters)
        self.provenance = dict(provenance)
        self.url: str | None = None
        self.id = _model_id(forest, self.parameters)

    @property
    def ndim(self) -> int:
        """2 or 3."""
        return int(self.parameters["ndim"])

    @property
    def spacing(self) -> tuple[float, ...]:
        """Voxel size of the training images."""
        return tuple(self.parameters["spacing"])

    @property
    def sigmas(self) -> tuple[float, ...]:
        """Filter scales in the units of ``spacing``."""
        return tuple(self.parameters["sigmas"])

    @property
    def diameter(self) -> float:
        """Median nucleus diameter of the training labels, units of ``spacing``."""
        return float(self.parameters["diameter"])

    def describe(self) -> dict[str, Any]:
        """What labels made with it record of it (``attrs["method"]`` of :func:`labkit.segment_nuclei`)."""
        return {"name": FORMAT, "model_id": self.id, "format_version": FORMAT_VERSION,
                **({"url": self.url} if self.url else {})}

    def halo(self, spacing: Sequence[float] | None = None) -> tuple[int, ...]:
        """Voxels per axis a block needs around it: the filters' reach plus the largest training nucleus.

        Examples
        --------
        >>> model = NucleiModel(None, {"ndim": 2, "spacing": [1, 1], "sigmas": [1, 2], "diameter": 10,
        ...                            "largest": 14}, {})
        >>> model.halo()
        (25, 25)
        """
        sp = self._spacing(spacing, "the image")
        reach = 4 * max(self.sigmas) + 1.1 * float(self.parameters.get("largest", 2 * self.diameter))
        return tuple(int(math.ceil(reach / s)) + 1 for s in sp)

    def blockwise(self, samples: Sequence[np.ndarray], spacing: Sequence[float] | None = None,
                  ) -> tuple[Any, tuple[int, ...]]:
        """A picklable block function for an image and the halo it needs (used by :func:`labkit.segment_nuclei`).

        Parameters
        ----------
        samples : list of numpy arrays
            Full-resolution crops of the image: its intensity scale (percentiles) is set once from them.
        spacing : sequence of float, optional
            The image's voxel size (z, y, x); default the training's.
        """
        sp = self._spacing(spacing, "the image")
        for s in samples:
            self._check_ndim(np.ndim(s))
        values = np.concatenate([np.asarray(s, np.float32).ravel()[:: max(1, np.size(s) // 2_000_000)]
                                 for s in samples])
        low, high = _percentiles(values)
        return _BlockFunction(self, sp, low, high), self.halo(sp)

    def predict_proba(self, image: Any, spacing: Sequence[float] | None = None) -> np.ndarray:
        """Probabilities of background, inside and boundary, shape ``(3, *image.shape)``, float32.

        The intensity scale is set from this image (its 1st and 99.8th percentiles).
        """
        data = _as_image(image, "image")
        self._check_ndim(data.ndim)
        low, high = _percentiles(data)
        return _probabilities(self, _normalised(data, low, high), self._spacing(spacing, "the image"))

    def segment(self, image: Any, spacing: Sequence[float] | None = None) -> np.ndarray:
        """Labels of a whole (small) image in memory; for big or lazy images use :func:`labkit.segment_nuclei`.

        Examples
        --------
        >>> from labkit.synthetic import touching_nuclei
        >>> plane = touching_nuclei(seed=3)
        >>> model = train_nuclei([plane.image], [plane.labels], rounds=20, progress=False)
        >>> int(model.segment(plane.image).max()) > 5
        True
        """
        data = _as_image(image, "image")
        self._check_ndim(data.ndim)
        low, high = _percentiles(data)
        return _BlockFunction(self, self._spacing(spacing, "the image"), low, high)(data)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Labels of one block of the training's voxel size (its own intensity scale): the plain method protocol."""
        return self.segment(block)

    def save(self, url: str | os.PathLike[str], *, overwrite: bool = False,
             storage_options: Mapping[str, Any] | None = None) -> str:
        """Keep the model in a result store: a folder (local path, ``s3://...``) with the forest and a manifest.

        The manifest (``manifest.json``) holds the format version, the model id, its parameters and provenance and
        the sha256 of the forest file; :func:`load_nuclei_model` checks them all.

        Returns
        -------
        str
            The URL, which labels made with the loaded model record.

        Examples
        --------
        >>> import tempfile
        >>> from labkit.synthetic import touching_nuclei
        >>> plane = touching_nuclei(seed=3)
        >>> model = train_nuclei([plane.image], [plane.labels], rounds=20, progress=False)
        >>> url = model.save(tempfile.mkdtemp() + "/model")
        >>> load_nuclei_model(url).id == model.id
        True
        """
        from labkit.errors import AlreadyExistsError
        from labkit.results import ResultStore

        store = ResultStore(url, storage_options)
        if store.exists(MANIFEST) and not overwrite:
            raise AlreadyExistsError(f"{store.url_of(MANIFEST)} exists: a model is kept there already; pass "
                                     "overwrite=True to replace it, or another url")
        blob = _dump(self.forest)
        store.write_bytes(FOREST, blob)
        self.url = store.url
        store.write_json(MANIFEST, {"format": FORMAT, "format_version": FORMAT_VERSION, "model_id": self.id,
                                    "parameters": self.parameters, "provenance": self.provenance,
                                    "files": {FOREST: {"sha256": hashlib.sha256(blob).hexdigest(),
                                                       "bytes": len(blob)}}})
        return store.url

    @property
    def nbytes(self) -> int:
        """Size of the saved forest (bytes, compressed)."""
        return len(_dump(self.forest))

    def __dask_tokenize__(self) -> tuple[str, str]:
        return (FORMAT, self.id)

    def __repr__(self) -> str:
        n = len(self.provenance.get("training_images", []))
        return (f"NucleiModel(id={self.id!r}, {self.ndim}D, trained on {n} image{'s' if n != 1 else ''}, "
                + (f"{self.parameters['rounds']} boosting rounds" if "rounds" in self.parameters else
                   f"{self.parameters.get('trees')} trees") + (f", url={self.url!r})" if self.url else ")"))

    def _spacing(self, spacing: Sequence[float] | None, what: str) -> tuple[float, ...]:
        if spacing is None:
            return self.spacing
        values = tuple(float(s) for s in spacing)
        self._check_ndim(len(values))
        if not all(math.isfinite(s) and s > 0 for s in values):
            raise FormatError(f"spacing {spacing!r} of {what} is not a list of positive voxel sizes (z, y, x order)")
        return values

    def _check_ndim(self, ndim: int) -> None:
        if ndim != self.ndim:
            raise FormatError(
                f"this model was trained on {self.ndim}D images and cannot segment a {ndim}D image: "
                + ("segment plane by plane with a 2D model, e.g. segment_nuclei(image.isel(z=k), method=model), "
                   "or train a 3D model on labelled volumes" if self.ndim == 2 else
                   "train a 2D model on labelled planes (train_nuclei with 2D images), or pass a 3D volume"))


class _BlockFunction:
    """A model bound to an image's voxel size and intensity scale: block -> labels (picklable)."""

    def __init__(self, model: NucleiModel, spacing: tuple[float, ...], low: float, high: float) -> None:
        self.model, self.spacing, self.low, self.high = model, spacing, float(low), float(high)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        data = _as_image(block, "block")
        self.model._check_ndim(data.ndim)
        # blocks run in parallel already (Dask's threads and workers): boosting's OpenMP threads would oversubscribe
        with threadpool_limits(limits=1, user_api="openmp"):
            proba = _probabilities(self.model, _normalised(data, self.low, self.high), self.spacing)
        return _instances(proba, self.model, self.spacing)

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        return (FORMAT, self.model.id, self.spacing, self.low, self.high)


def train_nuclei(images: Sequence[Any], labels: Sequence[Any], *, spacing: Sequence[float] | None = None,
                 sigmas: Sequence[float] | None = None, classifier: str = "boosting", rounds: int = 100,
                 trees: int | None = None, depth: int | None = None, pixels: int = 10_000, seed: int = 0,
                 names: Sequence[str] | None = None,
                 progress: bool = True) -> NucleiModel:
    """Train a nuclei segmenter on your own labelled images (2D or 3D), on a CPU, in seconds to minutes.

    Gradient-boosted trees (or a random forest) learn background, inside and boundary of a nucleus from
    multi-scale filters (see
    :mod:`labkit.nuclei_model`); the model segments new images with :func:`labkit.segment_nuclei`
    (``method=model``), block by block. Training is seeded: the same images, labels, parameters and seed give
    the same model (the same :attr:`NucleiModel.id` and predictions).

    Parameters
    ----------
    images : list of arrays
        Intensity images (numpy, dask or ``xarray.DataArray``), all 2D (``y, x``) or all 3D (``z, y, x``).
    labels : list of arrays
        Integer instance labels of the same shapes: 0 background, one id per nucleus. Label every nucleus of an
        image (or of a crop of it): unlabelled nuclei are learnt as background.
    spacing : sequence of float, optional
        Voxel size (z, y, x) of the training images in physical units (e.g. µm); default from an xarray image's
        coordinates (:func:`labkit.units.voxel_size`), else 1.0 (pixels). Images to segment later are filtered at
        the same physical scales, so a model applies across voxel sizes.
    sigmas : sequence of float, optional
        Filter scales in the units of ``spacing``; default 1, 2, 4 and 8 voxels of the finest axis. The largest
        should be about half a nucleus diameter.
    classifier : {"boosting", "forest"}
        ``"boosting"`` (default): gradient-boosted trees (scikit-learn's ``HistGradientBoostingClassifier``, classes
        weighed alike) and, in 2D, seeds at the maxima of the distance to the background times the "inside"
        probability (in 3D the sure parts' seeds);
        ``"forest"``: the random forest and sure-part seeds of labkit before 2026-12 (format 1).
    rounds : int
        Boosting rounds (one small tree per class and round), for ``"boosting"``.
    trees, depth : int, optional
        Trees of the forest and their largest depth (default 32 and 14), for ``"forest"`` only: more and deeper
        fit better, train slower, weigh more.
    pixels : int
        Training voxels drawn from each image (as many of each class as it has, up to a third each; in 3D with
        boosting half of the background's third within 6 voxels of a nucleus).
    seed : int
        Seed of the voxels drawn and of the forest.
    names : list of str, optional
        A name per image (a file, a URL) for the provenance; images are also identified by a sha256 of their pixels.
    progress : bool
        Show a progress bar (in Jupyter an HTML bar that a saved notebook keeps in its final state).

    Returns
    -------
    NucleiModel

    Raises
    ------
    labkit.errors.FormatError
        Images and labels of different shapes or counts, labels that are not integers, 2D mixed with 3D, or no
        labelled nucleus at all (an image without any is used as background, with a warning).
    labkit.errors.MissingDependencyError
        scikit-learn is not installed (``pip install "labkit[train]"``).

    Examples
    --------
    >>> from labkit.synthetic import touching_nuclei
    >>> a, b = touching_nuclei(seed=3), touching_nuclei(seed=4)
    >>> model = train_nuclei([a.image], [a.labels], rounds=20, seed=1, progress=False)
    >>> from labkit.scoring import match_objects
    >>> match_objects(model.segment(b.image), b.labels)["f1"] > 0.8
    True
    """
    ensemble = attempt_import("sklearn.ensemble")
    pairs, spacing_used = _checked_pairs(images, labels, spacing)
    ndim = pairs[0][0].ndim
    if names is not None and len(names) != len(pairs):
        raise FormatError(f"{plural(len(names), 'name')} for {plural(len(pairs), 'image')}: give one name per "
                          "image, or none")
    scales = tuple(float(s) for s in sigmas) if sigmas is not None else tuple(s * min(spacing_used) for s in SIGMAS)
    if not scales or not all(math.isfinite(s) and s > 0 for s in scales):
        raise FormatError(f"sigmas {sigmas!r} must be positive filter scales (units of spacing)")
    if classifier not in ("boosting", "forest"):
        raise FormatError(f"classifier={classifier!r}: give 'boosting' (the default) or 'forest'")
    if classifier == "boosting" and (trees is not None or depth is not None):
        raise FormatError("trees and depth are for classifier='forest': give rounds= for the default boosting, "
                          "or pass classifier='forest' with them")
    trees, depth = 32 if trees is None else trees, 14 if depth is None else depth
    for name, value, low in (("rounds", rounds, 1), ("trees", trees, 1), ("depth", depth, 1), ("pixels", pixels, 30)):
        if int(value) != value or value < low:
            raise FormatError(f"{name}={value!r}: give a whole number of at least {low}")

    rng = np.random.default_rng(seed)
    features, targets, diameters, records = [], [], [], []
    shares = np.zeros(len(CLASSES), np.int64)
    boosting = classifier == "boosting"
    bar = progress_bar(total=len(pairs) + (1 if boosting else trees), desc="train_nuclei", unit="step",
                       disable=not progress)
    parameters = {"ndim": ndim, "spacing": list(spacing_used), "sigmas": list(scales), "pixels": int(pixels),
                  "seed": int(seed), "classes": list(CLASSES), "percentiles": [_LOW, _HIGH],
                  "features": _feature_names(ndim, scales)}
    if boosting:
        # distance seeds were chosen on 2D images; on 3D volumes (nuclei of more voxels across) their height in
        # voxels split too little (synthetic volumes: F1 0.79 against 0.91 with the sure parts)
        parameters.update(classifier="boosting", rounds=int(rounds), seeds="distance" if ndim == 2 else "sure")
        if ndim == 3:
            # the background next to the nuclei is a small share of a volume's (4 % in the embryo): drawn uniformly
            # it is rarely seen, and boosting (surer than a forest's votes) draws nuclei 15-20 % too large; in 2D
            # (DSB2018) and with the forest (then 10-30 % too small) drawing near them changes nothing or harms
            parameters["near"] = _NEAR
    else:
        parameters.update(trees=int(trees), depth=int(depth))
    try:
        for k, (image, label) in enumerate(pairs):
            bar.set_postfix_str(f"filters of image {k + 1}/{len(pairs)}")
            low, high = _percentiles(image)
            stack = _features(_normalised(image, low, high), spacing_used, scales)
            classes = _classes(label)
            shares += np.bincount(classes.ravel(), minlength=len(CLASSES))
            near = None if "near" not in parameters else distance_to_outside(
                label == 0, spacing_used) <= _NEAR * min(spacing_used)
            pick = _draw(classes, pixels, rng, near)
            features.append(stack.reshape(len(stack), -1)[:, pick].T)
            targets.append(classes.ravel()[pick])
            diameters.append(_diameters(label, spacing_used))
            records.append({"name": names[k] if names is not None else f"image {k}", "shape": list(image.shape),
                            "dtype": str(image.dtype), "sha256": _digest(image), "labels_sha256": _digest(label),
                            "nuclei": int(len(np.unique(label[label > 0])))})
            bar.update(1)
        x = np.concatenate(features).astype(np.float32)
        y = np.concatenate(targets)
        counts = np.bincount(y, minlength=len(CLASSES))
        weights = {c: len(y) / (len(CLASSES) * n) for c, n in enumerate(counts) if n}  # classes weigh alike
        if boosting:
            bar.set_postfix_str(f"{rounds} boosting rounds on {plural(len(y), 'voxel')}")
            forest = ensemble.HistGradientBoostingClassifier(
                max_iter=int(rounds), learning_rate=0.1, max_leaf_nodes=31, min_samples_leaf=20,
                class_weight=weights, early_stopping=False, random_state=int(seed)).fit(x, y)
            bar.update(1)
        else:
            forest = ensemble.RandomForestClassifier(
                n_estimators=0, max_depth=int(depth), min_samples_leaf=3, max_features="sqrt", class_weight=weights,
                n_jobs=1, random_state=int(seed), warm_start=True)
            bar.set_postfix_str(f"forest on {plural(len(y), 'voxel')}")
            step = max(1, trees // 8)
            for done in range(step, trees + step, step):  # warm start: the same forest as one fit, with progress
                forest.set_params(n_estimators=min(done, trees))
                forest.fit(x, y)
                bar.update(min(done, trees) - (done - step))
    finally:
        bar.close()
    sizes = np.concatenate(diameters)
    parameters["priors"] = [round(float(v), 6) for v in shares / shares.sum()]
    parameters["diameter"] = float(np.median(sizes))
    parameters["largest"] = float(np.percentile(sizes, 99))
    provenance = {"training_images": records, "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "training_voxels": int(len(y)), "versions": _versions()}
    return NucleiModel(forest, parameters, provenance)


def load_nuclei_model(url: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None,
                      ) -> NucleiModel:
    """A model kept by :meth:`NucleiModel.save`, checked against its manifest (format version, sha256, id).

    Only load models you or your colleagues saved: the forest is a pickle, which runs code when loaded.

    Raises
    ------
    labkit.errors.NotFoundError
        No model at ``url``.
    labkit.errors.FormatError
        Not a labkit nuclei model, or one saved by a newer labkit (upgrade labkit to read it).
    labkit.errors.IntegrityError
        The forest file differs from what the manifest recorded.

    Examples
    --------
    >>> model = load_nuclei_model("s3://lab/models/nuclei-2026-12")  # doctest: +SKIP
    """
    from labkit.errors import NotFoundError
    from labkit.results import ResultStore

    store = ResultStore(url, storage_options)
    manifest = store.read_json(MANIFEST)
    if manifest is None:
        raise NotFoundError(f"no nuclei model at {store.url}: {MANIFEST} is missing there. Give the url passed to "
                            "model.save(...)")
    if manifest.get("format") != FORMAT:
        raise FormatError(f"{store.url_of(MANIFEST)} is not a labkit nuclei model (format "
                          f"{manifest.get('format')!r}, expected {FORMAT!r}): give the folder model.save() wrote")
    found = manifest.get("format_version")
    if not isinstance(found, int) or found > FORMAT_VERSION:
        from labkit.results.provenance import labkit_version

        made = manifest.get("provenance", {}).get("versions", {}).get("labkit", "a newer one")
        raise FormatError(f"the model at {store.url} is in format version {found!r}, made by labkit {made}; this "
                          f"labkit ({labkit_version()}) reads format version {FORMAT_VERSION} or older: upgrade "
                          'labkit (pip install -U "labkit[train]") to load it, or train the model again here')
    blob = store.read_bytes(FOREST)
    expected = manifest.get("files", {}).get(FOREST, {}).get("sha256")
    if hashlib.sha256(blob).hexdigest() != expected:
        raise IntegrityError(f"{store.url_of(FOREST)} does not match the sha256 its manifest recorded: the model "
                             "file was changed or damaged; save the model again")
    joblib = attempt_import("joblib")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        forest = joblib.load(io.BytesIO(blob))
    if any("InconsistentVersionWarning" in type(w.message).__name__ for w in caught):
        warnings.warn(f"the model at {store.url} was saved with scikit-learn "
                      f"{manifest.get('provenance', {}).get('versions', {}).get('scikit-learn')}; this is "
                      f"{_sklearn_version()}: its predictions may differ. Train it again to be sure", stacklevel=2)
    model = NucleiModel(forest, manifest["parameters"], manifest.get("provenance", {}))
    if model.id != manifest.get("model_id"):
        raise IntegrityError(f"the model at {store.url} has id {model.id}, its manifest says "
                             f"{manifest.get('model_id')}: the files do not belong together; save the model again")
    model.url = store.url
    return model


# --- checks of the training data ---------------------------------------------------------------------------


def _checked_pairs(images: Sequence[Any], labels: Sequence[Any], spacing: Sequence[float] | None,
                   ) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[float, ...]]:
    if hasattr(images, "ndim") or hasattr(labels, "ndim"):
        raise FormatError("train_nuclei takes lists of images and of labels: wrap a single image as [image], "
                          "[labels]")
    images, labels = list(images), list(labels)
    if not images or len(images) != len(labels):
        raise FormatError(f"{plural(len(images), 'image')} and {plural(len(labels), 'label image')}: give one "
                          "label image per image (at least one)")
    found_spacing = None
    pairs = []
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        if found_spacing is None and spacing is None and hasattr(image, "dims") and hasattr(image, "coords"):
            from labkit.units import voxel_size

            sizes = voxel_size(image, image.dims).sizes
            found_spacing = tuple(sizes[d] or 1.0 for d in image.dims)
        data = _as_image(getattr(image, "values", image), f"image {k}")
        lab = np.asarray(getattr(label, "values", label))
        if lab.shape != data.shape:
            raise FormatError(f"image {k} has shape {data.shape} but its labels have shape {lab.shape}: give labels "
                              "of the same shape as their image (the same crop, no channel axis)")
        if lab.dtype.kind == "f" and np.all(np.mod(lab, 1) == 0) and lab.min() >= 0:
            lab = lab.astype(np.int64)
        if lab.dtype.kind not in "iu":
            raise FormatError(f"the labels of image {k} are {lab.dtype}, not integers: give instance labels (0 "
                              "background, one integer id per nucleus), e.g. from skimage.measure.label(mask)")
        if lab.min() < 0:
            raise FormatError(f"the labels of image {k} hold negative ids: 0 is background, nuclei are 1, 2, ...")
        pairs.append((data, lab))
    dims = {d.ndim for d, _ in pairs}
    if len(dims) > 1:
        raise FormatError(f"the images mix 2D and 3D ({sorted(dims)}): train a 2D model on planes and a 3D model on "
                          "volumes, separately")
    empty = [k for k, (_, lab) in enumerate(pairs) if not lab.any()]
    if len(empty) == len(pairs):
        raise FormatError("no image has a labelled nucleus (every label image is 0): label some nuclei (ids 1, 2, "
                          "...) in at least one image")
    if empty:
        warnings.warn(f"image{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))} "
                      f"{'have' if len(empty) > 1 else 'has'} no labelled nucleus: used as background only. If "
                      "nuclei are visible there, label them, or they are learnt as background", UserWarning,
                      stacklevel=3)
    ndim = dims.pop()
    if spacing is None:
        spacing = found_spacing or (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise FormatError(f"spacing {spacing!r} does not fit {ndim}D images: give {ndim} positive voxel sizes "
                          "(z, y, x order)")
    return pairs, values


def _as_image(image: Any, what: str) -> np.ndarray:
    data = np.asarray(image)
    if data.ndim not in (2, 3):
        raise FormatError(f"{what} must be 2D (y, x) or 3D (z, y, x), got shape {data.shape}: pass one channel "
                          "and one time point")
    if data.dtype.kind not in "iufb":
        raise FormatError(f"{what} must hold real numbers, got dtype {data.dtype}")
    if min(data.shape) < 2:
        raise FormatError(f"{what} has an empty or single-voxel axis, shape {data.shape}: pass a larger crop")
    return data


# --- features, classes, instances --------------------------------------------------------------------------


def _percentiles(data: np.ndarray) -> tuple[float, float]:
    values = np.asarray(data, np.float32).ravel()
    values = values[:: max(1, values.size // 2_000_000)]
    low, high = np.percentile(values, [_LOW, _HIGH])
    return float(low), float(max(high, low + 1e-6))


def _normalised(data: np.ndarray, low: float, high: float) -> np.ndarray:
    return ((np.asarray(data, np.float32) - low) / (high - low)).astype(np.float32)


def _feature_names(ndim: int, sigmas: Sequence[float]) -> list[str]:
    out = ["intensity"]
    for s in sigmas:
        out += [f"gaussian {s:g}", f"gradient {s:g}", f"laplacian {s:g}"]
        out += [f"hessian eigenvalue {k} {s:g}" for k in range(ndim)]
    return out


def _features(data: np.ndarray, spacing: Sequence[float], sigmas: Sequence[float]) -> np.ndarray:
    """Filters at each scale (physical units), stacked: shape ``(features, *data.shape)``, float32."""
    out = [data]
    nd = data.ndim
    for s in sigmas:
        sig = tuple(s / sp for sp in spacing)
        smooth = ndimage.gaussian_filter(data, sig, mode="reflect", truncate=4.0)
        out.append(smooth)
        out.append(ndimage.gaussian_gradient_magnitude(data, sig, mode="reflect", truncate=4.0) * s)
        second = {}
        for i in range(nd):
            for j in range(i, nd):
                order = [0] * nd
                order[i] += 1
                order[j] += 1
                derivative = ndimage.gaussian_filter(data, sig, order=order, mode="reflect", truncate=4.0)
                second[i, j] = derivative * (s * s / (spacing[i] * spacing[j]))  # physical, scale-normalised
        out.append(sum(second[i, i] for i in range(nd)))
        out.extend(_hessian_eigenvalues(second, nd))
    return np.stack(out).astype(np.float32, copy=False)


def _hessian_eigenvalues(second: Mapping[tuple[int, int], np.ndarray], nd: int) -> list[np.ndarray]:
    """Eigenvalues, ascending, of each voxel's symmetric 2 x 2 or 3 x 3 Hessian (``second[i, j]``, i <= j).

    In closed form, in float64, in slices of a million voxels: ``np.linalg.eigvalsh``'s values in float32 (within
    1e-6 of the largest), 6 times faster in 2D and 3-12 times in 3D (``make bench``).
    """
    shape = second[0, 0].shape
    entries = {key: value.reshape(-1) for key, value in second.items()}
    out = [np.empty(entries[0, 0].size, np.float32) for _ in range(nd)]
    step = 1 << 20
    for start in range(0, entries[0, 0].size, step):
        h = {key: value[start:start + step].astype(np.float64) for key, value in entries.items()}
        if nd == 2:  # the mean of the diagonal, plus and minus the radius of Mohr's circle
            mean = (h[0, 0] + h[1, 1]) / 2
            radius = np.hypot((h[0, 0] - h[1, 1]) / 2, h[0, 1])
            values = [mean - radius, mean + radius]
        else:  # 3 x 3: the trigonometric solution of the characteristic cubic (Smith 1961)
            mean = (h[0, 0] + h[1, 1] + h[2, 2]) / 3
            a, b, c = h[0, 0] - mean, h[1, 1] - mean, h[2, 2] - mean
            d, e, f = h[0, 1], h[0, 2], h[1, 2]
            p = np.sqrt((a * a + b * b + c * c + 2 * (d * d + e * e + f * f)) / 6)
            det = a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(p > 0, det / (2 * p ** 3), 0.0)
            angle = np.arccos(np.clip(r, -1, 1)) / 3
            largest = mean + 2 * p * np.cos(angle)
            smallest = mean + 2 * p * np.cos(angle + 2 * np.pi / 3)
            values = [smallest, 3 * mean - largest - smallest, largest]
        for target, value in zip(out, values, strict=True):
            target[start:start + step] = value
    return [v.reshape(shape) for v in out]


def _classes(labels: np.ndarray) -> np.ndarray:
    """0 background, 1 inside, 2 boundary (a labelled voxel with a face neighbour of another id)."""
    segmentation = _skimage("segmentation")
    boundary = segmentation.find_boundaries(labels, connectivity=1, mode="inner")
    out = (labels > 0).astype(np.uint8)
    out[boundary & (labels > 0)] = 2
    return out


def _draw(classes: np.ndarray, pixels: int, rng: np.random.Generator,
          near: np.ndarray | None = None) -> np.ndarray:
    """Flat indices of up to ``pixels`` voxels, up to a third from each class (the rest from the others).

    ``near`` (a mask): half of the background's third is drawn where it is true (the background next to the
    nuclei), half elsewhere.
    """
    flat = classes.ravel()
    groups = [np.flatnonzero(flat == c) for c in range(len(CLASSES))]
    quotas = [pixels // len(groups)] * len(groups)
    if near is not None:
        close = near.ravel()[groups[0]]
        groups = [groups[0][~close], groups[0][close], *groups[1:]]
        quotas = [quotas[0] - quotas[0] // 2, quotas[0] // 2, *quotas[1:]]
    spare = pixels - sum(min(len(g), q) for g, q in zip(groups, quotas, strict=True))
    picks = []
    for g, q in sorted(zip(groups, quotas, strict=True), key=lambda pair: len(pair[0]) - pair[1]):
        n = min(len(g), q + max(0, spare))
        spare -= max(0, n - q)
        picks.append(rng.choice(g, n, replace=False) if n < len(g) else g)
    return np.sort(np.concatenate(picks))


def _diameters(labels: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    counts = np.bincount(labels.ravel())[1:]
    counts = counts[counts > 0].astype(float) * float(np.prod(spacing))
    if labels.ndim == 2:
        return 2 * np.sqrt(counts / math.pi)
    return 2 * np.cbrt(3 * counts / (4 * math.pi))


def _probabilities(model: NucleiModel, data: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    stack = _features(data, spacing, model.sigmas)
    flat = stack.reshape(len(stack), -1).T
    proba = np.empty((len(CLASSES), flat.shape[0]), np.float32)
    step = 1 << 18
    for start in range(0, flat.shape[0], step):  # in slices: the forest's temporaries stay small
        # each voxel's features side by side, in the dtype boosting predicts in (scikit-learn would copy the
        # transposed view to float64 anyway): prediction 14 % faster, the same probabilities
        rows = np.ascontiguousarray(flat[start:start + step], dtype=np.float64)
        proba[:, start:start + step] = model.forest.predict_proba(rows).T
    priors = model.parameters.get("priors")  # format 3
    if priors is not None:
        # the classifier learnt from classes weighed alike (as if each were a third of the voxels); Bayes' rule
        # gives the probabilities for the classes' true shares (in the training labels): without it every
        # uncertain voxel near a nucleus counts as inside, and nuclei come out a third too large
        proba *= (len(CLASSES) * np.maximum(np.asarray(priors, np.float32), 1e-6))[:, None]
        proba /= np.maximum(proba.sum(axis=0, keepdims=True), 1e-12)
    return proba.reshape(len(CLASSES), *data.shape)


def _instances(proba: np.ndarray, model: NucleiModel, spacing: tuple[float, ...]) -> np.ndarray:
    """Seeded watershed grown over what is not background.

    Format 2: a seed per maximum of the distance to the background times the smoothed "inside" probability that
    rises ``_HEIGHT`` voxels above its saddles (where "inside" is sure). Format 1: a seed per part where "inside" is
    sure; a part that is not compact (its equivalent diameter over ``_COMPACT`` times its inscribed one: nuclei
    touching without a visible boundary) gets a seed per maximum of its distance to the edge instead.
    """
    segmentation = _skimage("segmentation")
    inside = ndimage.gaussian_filter(proba[1], tuple(min(spacing) / s for s in spacing), mode="nearest")
    core = inside > _SEED
    if not core.any():
        return np.zeros(proba.shape[1:], np.int32)
    if model.parameters.get("seeds") == "distance":  # format 2
        mask = (proba[0] < 0.5) | core
        relief = distance_to_outside(mask, spacing) / np.float32(min(spacing)) * inside
        peaks = _skimage("morphology").h_maxima(relief, _HEIGHT).astype(bool) & core
        markers, _ = ndimage.label(peaks)
        labels = segmentation.watershed(-relief - inside, markers, mask=mask)
    else:  # format 1: a seed per sure part, split when not compact
        parts, count = ndimage.label(core)
        distance = distance_to_outside(core, spacing)
        markers = _split_seeds(parts, count, distance, spacing)
        labels = segmentation.watershed(-distance - inside, markers, mask=(proba[0] < 0.5) | core)
    sizes = np.bincount(labels.ravel())
    small = sizes < _MIN_SIZE * _volume(model.diameter, spacing)
    small[0] = False
    labels[small[labels]] = 0
    return labels.astype(np.int32)


def _split_seeds(parts: np.ndarray, count: int, distance: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """The parts themselves as seeds, those that are not compact replaced by the maxima of their distance map."""
    index = np.arange(1, count + 1)
    volume = np.bincount(parts.ravel(), minlength=count + 1)[1:] * float(np.prod(spacing))
    equivalent = 2 * (np.sqrt(volume / math.pi) if parts.ndim == 2 else np.cbrt(3 * volume / (4 * math.pi)))
    inscribed = 2 * label_maxima(distance, parts, count)
    loose = index[equivalent > _COMPACT * np.maximum(inscribed, 1e-6)]
    if not len(loose):
        return parts
    markers = np.where(np.isin(parts, loose), 0, parts)
    next_id = count + 1
    for k, box in enumerate(ndimage.find_objects(parts), start=1):
        if box is None or k not in loose:
            continue
        mine = parts[box] == k
        dist = np.where(mine, distance[box], 0)
        radius = float(dist.max())
        # maxima that rise at least _DEPTH of the radius above the saddle to any higher one: two round nuclei
        # touching at a neck, not the flat ridge of one long nucleus
        peaks = _skimage("morphology").h_maxima(dist, _DEPTH * radius).astype(bool) & mine \
            & (dist >= _DEEP * radius)
        found, n = ndimage.label(peaks)
        if n < 2:
            markers[box][mine] = next_id
            next_id += 1
            continue
        sub = markers[box]
        sub[found > 0] = found[found > 0] + next_id - 1
        next_id += n
    return markers


def _volume(diameter: float, spacing: Sequence[float]) -> float:
    r = diameter / 2
    physical = math.pi * r**2 if len(spacing) == 2 else 4 / 3 * math.pi * r**3
    return physical / float(np.prod(spacing))


# --- identity, files, versions -------------------------------------------------------------------------------


def _digest(data: np.ndarray) -> str:
    arr = np.ascontiguousarray(data)
    h = hashlib.sha256(f"{arr.dtype.str}:{arr.shape};".encode())
    h.update(arr.view(np.uint8).reshape(-1))
    return h.hexdigest()


def _model_id(forest: Any, parameters: Mapping[str, Any]) -> str:
    """A hash of what the model computes: its trees (their arrays) and parameters, not when it was made."""
    h = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode())
    for tree in getattr(forest, "estimators_", []):
        t = tree.tree_
        for arr in (t.children_left, t.children_right, t.feature, t.threshold, t.value):
            h.update(np.ascontiguousarray(arr).view(np.uint8).reshape(-1))
    for rounds in getattr(forest, "_predictors", []):  # gradient boosting: every round's tree per class
        for predictor in rounds:
            h.update(np.ascontiguousarray(predictor.nodes).view(np.uint8).reshape(-1))
    if hasattr(forest, "_baseline_prediction"):
        h.update(np.ascontiguousarray(forest._baseline_prediction, np.float64).view(np.uint8).reshape(-1))
    return h.hexdigest()[:16]


def _dump(forest: Any) -> bytes:
    buffer = io.BytesIO()
    attempt_import("joblib").dump(forest, buffer, compress=3)
    return buffer.getvalue()


def _versions() -> dict[str, str]:
    from labkit.results.provenance import package_versions

    return {**package_versions(), "scikit-learn": _sklearn_version(), "platform": platform.platform()}


def _sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "not installed"


def _skimage(name: str) -> Any:
    from labkit.nuclei_method import _skimage as imported

    return imported(name)

