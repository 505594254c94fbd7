"""Analysis over many images: one checkpointed result per image of a plate, a collection or any list.

:func:`map_images` runs a recipe (any function image -> result, e.g. :func:`labkit.segment_nuclei` then
:func:`labkit.measure`) over every image on the current Dask cluster (a task per image, or per few small images),
and stores each result through :mod:`labkit.results` (tables as Parquet, labels as NGFF labels). At most
``window`` tasks are in flight and results stay on the workers (only a one-line summary per image comes back),
so the client's memory does not grow with the number of images. Each result is checkpointed: a run that is
stopped (even killed) and started again computes only what is missing or stale, and what it kept is identical to
what an uninterrupted run gives (results are written atomically, their provenance last).

Examples
--------
>>> plate = labkit.open_plate("s3://bucket/plate.zarr")  # doctest: +SKIP
>>> def nuclei(image):  # doctest: +SKIP
...     labels = labkit.segment_nuclei(image, channel="DAPI")
...     return labkit.measure(labels, image)
>>> run = labkit.map_images(nuclei, plate, store="results", target="nuclei/{well}/{field}.parquet")  # doctest: +SKIP
>>> table = labkit.studies.combine(run)  # doctest: +SKIP
>>> labkit.plate_summary(plate, table)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import logging
import os
import string
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from labkit._lazy import attempt_import
from labkit._text import plural
from labkit.errors import ConfigurationError, LabkitError
from labkit.results import provenance as prov
from labkit.results.batch import in_fork
from labkit.results.checkpoint import Checkpointed
from labkit.results.result_store import PROVENANCE_SUFFIX, ResultStore, checked_name
from labkit.results.serializers import NgffLabels, Serializer, for_target

__all__ = ["combine", "image_keys", "map_images"]

logger = logging.getLogger(__name__)

#: version of the per-image wrapper: part of every result's code hash
_RUNNER = 1
#: with parallel="images", an image of at most this many bytes is read into the worker's memory once, before the
#: recipe runs (its steps, e.g. segmenting then measuring, would each read it from storage again)
IN_MEMORY = 256 * 2**20
#: images in one task at most, with parallel="images"
BATCH = 8


class ImageFailedError(LabkitError, RuntimeError):
    """The recipe failed on some images (the others' results are stored: a re-run does only the failed)."""

    def __init__(self, message: str, run: Any) -> None:
        super().__init__(message)
        self.run = run


# --------------------------------------------------------------------------- images and their keys
def image_keys(images: Any, level: int = 0) -> tuple[list[str], list[tuple[dict[str, Any], Callable[[], Any]]]]:
    """The key columns and ``(keys, open)`` of each image of a plate, a collection or an iterable.

    A :class:`labkit.plates.Plate` gives keys ``well`` and ``field``, a :class:`labkit.plates.Collection`
    ``index`` and ``name``: both read every image's metadata concurrently, and each image is an
    :class:`labkit.plates.ImageRef`, opened where it is analysed.
    An iterable gives ``(key, image)`` pairs (key a mapping of key columns, else one column ``key``) or
    ``(well, field, image)`` triples as :meth:`Plate.images` yields; it is read through once, up front.
    """
    from labkit.plates import Collection, Plate

    if isinstance(images, Plate):
        return ["well", "field"], images.refs(level)
    if isinstance(images, Collection):
        return ["index", "name"], images.refs(level)
    items = []
    columns: list[str] | None = None
    for n, item in enumerate(images):
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise ConfigurationError(f"item {n} of the images is a {type(item).__name__}: give (key, image) pairs, "
                                     "(well, field, image) triples, a plate or a collection")
        if len(item) == 3:
            keys, image = {"well": str(item[0]), "field": int(item[1])}, item[2]
        else:
            key, image = item
            keys = dict(key) if isinstance(key, Mapping) else {"key": key}
        if columns is None:
            columns = list(keys)
        elif list(keys) != columns:
            raise ConfigurationError(f"item {n} has the keys {list(keys)}, the first item {columns}: every image "
                                     "needs the same key columns")
        items.append((keys, (lambda image=image: image)))
    return columns or [], items


def _template_fields(template: str) -> list[str]:
    return [f.split(".")[0].split("[")[0].split("!")[0] for _, f, _, _ in string.Formatter().parse(template) if f]


def _targets(template: str, columns: list[str], keys: list[dict[str, Any]], store: ResultStore) -> list[str]:
    """Every image's target; refused when the template uses a missing key or puts two images in one place."""
    unknown = [f for f in _template_fields(template) if f not in columns]
    if unknown:
        raise ConfigurationError(f"the target {template!r} names {unknown}, which the images do not have: their "
                                 f"keys are {columns} (e.g. {'/'.join('{' + c + '}' for c in columns)}.parquet)")
    seen: dict[str, dict[str, Any]] = {}
    names = []
    for k in keys:
        name = checked_name(template.format(**k), store.url)
        if name in seen:
            unused = [c for c in columns if c not in _template_fields(template)]
            raise ConfigurationError(
                f"the target {template!r} puts two images' results in one place, {name!r}: "
                f"{_describe(seen[name])} and {_describe(k)}. Use every key that tells them apart in the target "
                f"(here {unused or columns}), e.g. {template!r} with "
                f"{'/'.join('{' + c + '}' for c in unused or columns)} in it"
            )
        seen[name] = k
        names.append(name)
    return names


def _describe(keys: Mapping[str, Any]) -> str:
    return " ".join(f"{k} {v!r}" if isinstance(v, str) else f"{k} {v}" for k, v in keys.items())


# --------------------------------------------------------------------------- what runs on a worker
class ImageArgument:
    """An image passed to a checkpointed recipe: hashed by what it is, not by reading all its pixels.

    A lazy image opened from a URL (it has ``attrs["source"]``) is identified by its source, dims, shape,
    dtype and coordinates (no pixel read); any other image by its pixels; an image of a plate or collection by
    its metadata (``token``: :attr:`labkit.plates.ImageRef.identity`).
    """

    def __init__(self, image: Any, token: str | None = None) -> None:
        self.image = image
        self._token = token

    def identity(self) -> str:
        """A deterministic token of the image (the same in every process)."""
        if self._token is None:
            img = self.image
            h = hashlib.sha256()
            source = getattr(img, "attrs", {}).get("source") if hasattr(img, "attrs") else None
            if source and hasattr(getattr(img, "data", None), "dask"):
                coords = {str(k): v.values for k, v in img.coords.items()}
                prov._feed(h, {"source": str(source), "dims": [str(d) for d in img.dims],
                               "shape": list(img.shape), "dtype": str(img.dtype), "coords": coords})
            else:
                import numpy as np

                prov._feed(h, np.asarray(img.compute() if hasattr(img, "compute") else img))
            self._token = h.hexdigest()[:32]
        return self._token

    def __dask_tokenize__(self) -> tuple[str, str]:
        return ("labkit-image", self.identity())

    def __getstate__(self) -> dict[str, Any]:
        return {"image": self.image, "_token": self._token}

    def __repr__(self) -> str:
        source = getattr(self.image, "attrs", {}).get("source", "") if hasattr(self.image, "attrs") else ""
        return f"<image {source} shape={tuple(getattr(self.image, 'shape', ()))}>"


class _Recipe:
    """The user's ``fn(image)`` as a function of the key columns and the image (what checkpoint needs)."""

    def __init__(self, fn: Callable[[Any], Any], columns: list[str]) -> None:
        self._fn = fn
        self._columns = list(columns)
        params = [inspect.Parameter(c, inspect.Parameter.KEYWORD_ONLY) for c in columns]
        self.__signature__ = inspect.Signature([*params, inspect.Parameter("image", inspect.Parameter.KEYWORD_ONLY)])
        self.__module__ = getattr(fn, "__module__", None) or __name__
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)
        self.__qualname__ = getattr(fn, "__qualname__", self.__name__)

    def __call__(self, **arguments: Any) -> Any:
        return self._fn(arguments["image"].image)


def _checkpointed(fn: Callable[[Any], Any], columns: list[str], store: ResultStore, template: str,
                  serializer: Serializer | None, overwrite: bool) -> Checkpointed:
    recipe = _Recipe(fn, columns)
    ck = Checkpointed(recipe, store, template, serializer or for_target(template), overwrite)
    # the recipe's own code (not this wrapper's) decides whether a result is stale
    ck.code_hash = hashlib.sha256(f"{prov.code_hash(fn)} map_images {_RUNNER}".encode()).hexdigest()[:16]
    ck.git = prov.git_state(prov.caller_folder(fn))
    return ck


def _recipe(ck: Checkpointed) -> Checkpointed:
    """A Dask task that holds the run's recipe on the cluster (see :func:`map_images`)."""
    return ck


def _run_batch(ck: Checkpointed, batch: list[tuple[int, dict[str, Any], Any]],
               whole: bool) -> list[tuple[int, dict[str, Any] | str]]:
    """A Dask task (through :func:`labkit.results.batch.in_fork`): :func:`_run_one` for each image of ``batch``.

    ``batch`` holds ``(index, keys, image)``; the images run one after the other. Returns each image's summary
    (or its error, as text: the others go on).
    """
    out: list[tuple[int, dict[str, Any] | str]] = []
    for i, keys, image in batch:
        try:
            out.append((i, _run_one(ck, keys, image, whole)))
        except Exception as exc:  # noqa: BLE001 - the recipe's own error, reported per image
            logger.error("map_images: %s failed on %s: %s: %s", ck.func.__name__, _describe(keys),
                         type(exc).__name__, exc)
            out.append((i, f"{type(exc).__name__}: {exc}"))
    return out


def _run_one(ck: Checkpointed, keys: dict[str, Any], image: Any, whole: bool = False) -> dict[str, Any]:
    """On a worker: the image's result, computed and stored unless it is fresh; a one-line summary back.

    ``image`` is an image or an :class:`labkit.plates.ImageRef` (opened here). ``whole``: the recipe's own Dask
    work runs inside this task (the images are the parallelism); else it is spread over the cluster.
    """
    from labkit.plates import ImageRef

    t0 = time.perf_counter()
    argument = ImageArgument(image(), image.identity) if isinstance(image, ImageRef) else ImageArgument(image)
    if whole and hasattr(argument.image, "compute") and argument.image.nbytes <= IN_MEMORY:
        import dask

        argument.identity()  # of the image as opened (a lazy image: by its metadata, no pixel read)
        with dask.config.set(scheduler="sync"):  # here, in this task (not through the cluster)
            argument.image = argument.image.compute()  # read once: the recipe's steps would each read it again
    image = argument.image
    if isinstance(ck.serializer, NgffLabels) and ck.serializer.image is None:
        source = getattr(image, "attrs", {}).get("source")
        if source:  # the labels go into a copy of this image (the source is read-only, or not a results store)
            ck = copy.copy(ck)
            ck.serializer = NgffLabels(ck.serializer.name, image=str(source),
                                       image_storage_options=ck.serializer.image_storage_options,
                                       table=ck.serializer.table)
    before = ck.state(**keys, image=argument)
    if before == "fresh" and not ck.overwrite:
        state = "read back"
    else:
        if whole:
            import dask

            with dask.config.set(scheduler="sync"):
                ck(**keys, image=argument)
        else:
            from distributed import worker_client

            # the recipe's own Dask work (reading, segmenting, writing blocks) runs on the cluster; this task
            # leaves the worker's thread pool meanwhile, so it cannot starve it
            with worker_client(separate_thread=True):
                ck(**keys, image=argument)
        state = "computed"
    return {**keys, "target": ck.target(**keys), "before": before, "state": state,
            "seconds": round(time.perf_counter() - t0, 3)}


def _fresh_by_record(ck: Checkpointed, items: list[tuple[dict[str, Any], Any]], names: list[str]) -> set[int]:
    """Images whose result is in the store, made by the same code from the same image.

    Told by one listing and the provenance records (read concurrently), without opening an image or reading
    a result.

    Only images that carry their identity (:class:`labkit.plates.ImageRef`) and single-file results qualify;
    the others are judged on the workers. A result's content is checked against its SHA-256 when it is read.
    """
    import json

    from labkit.plates import ImageRef

    if ck.overwrite or type(ck.serializer).exists is not Serializer.exists:
        return set()
    known = [i for i, (_, image) in enumerate(items) if isinstance(image, ImageRef)]
    if not known:
        return set()
    prefix = os.path.commonpath([os.path.dirname(names[i]) or "." for i in known])
    files = ck.store.files("" if prefix in ("", ".") else prefix)
    known = [i for i in known if names[i] in files and names[i] + PROVENANCE_SUFFIX in files]
    records = ck.store.read_many([names[i] + PROVENANCE_SUFFIX for i in known])
    fresh = set()
    for i in known:
        try:
            record = json.loads(records[names[i] + PROVENANCE_SUFFIX])
        except (KeyError, ValueError):
            continue
        keys, image = items[i]
        args_hash = prov.arguments_hash({**keys, "image": ImageArgument(None, image.identity)})
        if isinstance(record, dict) and record.get("sha256") and ck._judge(record, args_hash) == "fresh":
            fresh.add(i)
    return fresh


# --------------------------------------------------------------------------- the client's loop
def map_images(
    fn: Callable[[Any], Any],
    images: Any,
    store: ResultStore | str | os.PathLike[str],
    target: str,
    serializer: Serializer | None = None,
    client: Any = None,
    *,
    window: int | None = None,
    level: int = 0,
    overwrite: bool = False,
    combine: bool = False,
    progress: bool = True,
    parallel: str = "auto",
    on_submit: Callable[[int], None] | None = None,
) -> Any:
    """Run ``fn`` on every image on the Dask cluster, one checkpointed result per image.

    Parameters
    ----------
    fn : callable
        ``fn(image) -> result`` (a DataFrame, a label image, an array ...). Its source code is part of each
        result's provenance: changing it makes every result stale.
    images : Plate, Collection or iterable
        A plate (:func:`labkit.open_plate`: keys ``well``, ``field``), a collection (:func:`labkit.open_collection`:
        keys ``index``, ``name``), or ``(key, image)`` pairs (key a mapping of key columns, else column ``key``).
    store : str, path or ResultStore
        Where results go (a folder, ``s3://...``). A versioned store (``ResultStore(url, versioned=True)``)
        gets the whole run as one commit (a run killed midway commits nothing), or joins the run open on it.
    target : str
        Each image's result, formatted from its keys, e.g. ``"nuclei/{well}/{field}.parquet"``. A template that
        would put two images' results in one place is refused before anything runs.
    serializer : Serializer, optional
        How to store a result; default from the target's suffix (``.parquet``: Parquet). Pass
        :class:`labkit.results.NgffLabels` for label images: each goes into a copy of its image (or, with
        ``NgffLabels(image=...)``, that image). ``NgffLabels("nuclei", table=True)`` for a recipe returning
        ``(labels, labkit.measure(labels, image))``: the table goes into the image too, as its feature table
        (``tables/nuclei``, read by Fractal and ngio, and by :func:`labkit.open_table`), and :func:`combine`
        concatenates those tables.
    client : distributed.Client, optional
        Default: the current client (a local one, or a dask-gateway cluster's).
    window : int, optional
        Tasks in flight at once (default four times the cluster's threads; with ``parallel="images"`` a task
        takes up to eight small images): the client holds at most this many futures, and the results never
        leave the workers.
    level : int
        Resolution level read from a plate or collection.
    overwrite : bool
        Compute every result again.
    combine : bool
        Return :func:`combine` of the run (the per-image tables in one table) instead of the run.
    progress : bool
        Draw a progress bar (as :func:`labkit.progress`).
    parallel : {"auto", "images", "blocks"}
        ``"images"``: each image's own Dask work (reading, segmenting by blocks, measuring) runs inside its task,
        and images run side by side: right for many images, each small next to a worker's memory. ``"blocks"``:
        each image's work is spread over the whole cluster: right for a few big images. ``"auto"``: ``"images"``
        when there are at least as many images to compute as the cluster has threads.
    on_submit : callable, optional
        Called with the number of futures in flight after each submission (for monitoring).

    Returns
    -------
    pandas.DataFrame
        One row per image in the images' order: the key columns, ``target``, ``before`` (``"missing"``,
        ``"stale"`` or ``"fresh"``), ``state`` (``"computed"`` or ``"read back"``) and ``seconds``;
        ``attrs`` hold the store's URL and the serializer. Images of a plate or collection whose results are
    fresh are told from one listing and their provenance records, without a task; their results' contents are
    checked against their SHA-256 when they are read (:func:`combine`).

    Raises
    ------
    labkit.errors.ConfigurationError
        The target names a key the images do not have, puts two images in one place, or leads outside the
        store; or there is no Dask client. Nothing has run then.
    ImageFailedError
        ``fn`` failed on some images; the others' results are stored (the run is the error's ``run``).
    """
    pd = attempt_import("pandas")
    result_store = ResultStore.of(store)
    columns, items = image_keys(images, level)
    if not items:
        raise ConfigurationError("there are no images to run on")
    names = _targets(target, columns, [k for k, _ in items], result_store)
    ck = _checkpointed(fn, columns, result_store, target, serializer, overwrite)
    client = _client(client)
    if window is None:
        window = max(4, 4 * sum(client.nthreads().values()))
    if window < 1:
        raise ConfigurationError(f"window must be at least 1, not {window}")
    if parallel not in ("auto", "images", "blocks"):
        raise ConfigurationError(f"parallel is 'auto', 'images' or 'blocks', not {parallel!r}")

    from distributed import as_completed

    from labkit.plates import ImageRef

    bar = _bar(progress)
    fresh = _fresh_by_record(ck, items, names)
    rows: dict[int, dict[str, Any]] = {i: {**items[i][0], "target": names[i], "before": "fresh",
                                           "state": "read back", "seconds": 0.0} for i in fresh}
    if parallel == "auto":
        parallel = "images" if len(items) - len(fresh) >= sum(client.nthreads().values()) else "blocks"
    failed: dict[int, str] = {}
    t0 = time.monotonic()
    todo = [(i, keys, image) for i, (keys, image) in enumerate(items) if i not in fresh]
    threads = sum(client.nthreads().values())
    # in "images" mode several small images make one task (the scheduler's cost per task is a few ms), at most
    # a sixteenth of each thread's share, so the last tasks still spread evenly
    per_task = max(1, min(BATCH, len(todo) // (16 * threads))) if parallel == "images" else 1
    pending = iter([todo[k:k + per_task] for k in range(0, len(todo), per_task)])
    batch_of: dict[Any, list[int]] = {}
    run_id = uuid.uuid4().hex[:8]
    # the recipe is pickled once (cloudpickle of a notebook's function costs milliseconds), not for every task: a
    # task that returns it, not scattered data, so that the scheduler computes it again if every worker holding it
    # leaves (workers retired before a SLURM walltime, or cancelled): scattered data would be lost for good
    shared = client.submit(_recipe, ck, key=f"map_images-{run_id}-recipe", pure=False)

    def submit(done: Any, writes: Any) -> bool:
        batch = next(pending, None)
        if batch is None:
            return False
        sent = [(i, keys, image if isinstance(image, ImageRef) else image()) for i, keys, image in batch]
        future = client.submit(in_fork, _run_batch, shared, writes.fork(), sent, parallel == "images",
                               key=f"map_images-{run_id}-{batch[0][0]}", pure=False, retries=0)
        batch_of[future.key] = [i for i, _, _ in batch]
        done.add(future)
        if on_submit is not None:
            on_submit(done.count())
        return True

    if bar is not None and fresh:
        bar.draw(len(rows), len(items), 0.0, 0)
    # the run is one batch of the store (labkit.results.batch): on a versioned store every task's writes go into a
    # fork of its session, merged here as the task ends, and the run is one commit (or joins the run open on it)
    name = getattr(fn, "__name__", type(fn).__name__)
    with result_store.batch(f"map_images {name} over {plural(len(items), 'image')}") as writes:
        # results are fetched as the tasks end, all at once (not one round trip each in this loop)
        flight = as_completed(with_results=True, raise_errors=False)
        for _ in range(window):
            if not submit(flight, writes):
                break
        for future, result in flight:
            indices = batch_of.pop(future.key)
            if future.status == "error":  # the task itself (a worker lost, say), not the recipe
                exc = future.exception()
                result = ([(i, f"{type(exc).__name__}: {exc}") for i in indices], None)
            elif future.status not in ("finished", "lost"):  # cancelled: what it needed was lost (and its fork)
                result = ([(i, f"the task was {future.status}") for i in indices], None)
            # "lost": its worker left (a SLURM job cancelled, say) after the result was fetched: that is in hand
            for i, summary in writes.take(result):
                if isinstance(summary, str):
                    failed[i] = summary
                    rows[i] = {**items[i][0], "target": names[i], "before": None, "state": "failed",
                               "seconds": None}
                else:
                    rows[i] = summary
            future.release()
            del future
            if bar is not None:
                bar.draw(len(rows), len(items), time.monotonic() - t0, len(failed))
            submit(flight, writes)
    run = pd.DataFrame([rows[i] for i in range(len(items))])
    if failed:
        run["error"] = [failed.get(i) for i in range(len(items))]
    run.attrs.update({"store": result_store.url, "serializer": repr(ck.serializer), "key_columns": columns})
    run.attrs["_serializer"] = ck.serializer
    run.attrs["_store"] = result_store
    if failed:
        first = min(failed)
        raise ImageFailedError(
            f"{fn.__name__ if hasattr(fn, '__name__') else fn!r} failed on {len(failed)} of "
            f"{plural(len(items), 'image')} "
            f"(first: {_describe(items[first][0])}: {failed[first]}); the other results are stored, and running "
            "again computes only what is missing", run)
    return _combine(run) if combine else run


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client

        return get_client()
    except ValueError:
        raise ConfigurationError(
            "map_images runs on a Dask cluster and there is none: start one (labkit.start_cluster(), "
            "distributed.Client() for this machine, or a dask-gateway cluster) or pass client=..."
        ) from None


def _bar(show: bool) -> Any:
    if not show:
        return None
    from labkit.cluster_progress import _Bar

    return _Bar("images")


def _combine(run: Any, columns: Iterable[str] | None = None) -> Any:
    """The per-image tables of a run of :func:`map_images` in one table, with the key columns first.

    Tables are read back one at a time from the store (checked against their provenance digests).

    Parameters
    ----------
    run : pandas.DataFrame
        What :func:`map_images` returned.
    columns : iterable of str, optional
        Only these columns of each table (besides the keys).
    """
    pd = attempt_import("pandas")
    store = run.attrs.get("_store") or ResultStore(run.attrs["store"])
    keys = list(run.attrs.get("key_columns", []))
    serializer = run.attrs.get("_serializer") or for_target(str(run.target.iloc[0]))
    in_image = isinstance(serializer, NgffLabels) and serializer.table  # (labels, table): the image's table
    if not in_image and (not hasattr(serializer, "loads") or getattr(serializer, "kind", "") != "table"):
        raise ConfigurationError(f"combine concatenates tables; these results are stored by {serializer!r}")
    parts = []
    for row in run.itertuples(index=False):
        record = store.read_json(row.target + ".prov.json") or {}
        table = serializer.load(store, row.target, sha256=record.get("sha256"))
        if in_image:
            table = table[1]
        if columns is not None:
            table = table[list(columns)]
        table = table.reset_index(drop=True)
        for k in reversed(keys):
            table.insert(0, k, getattr(row, k))
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=keys)


combine = _combine  # the public name (map_images has a parameter of that name)
