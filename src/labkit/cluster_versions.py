"""Do the notebook, the scheduler and the workers run the same packages? distributed's check, said plainly.

A Dask client, its scheduler and its workers exchange pickled functions and data: when their ``dask``,
``distributed``, ``cloudpickle`` or Python versions differ, work fails in ways that do not name the cause (or
silently gives other results). A public gateway's workers run the provider's image (EODC's pin dask 2025.x and
dask-gateway 2025.4) while the notebook has whatever pip installed. distributed compares the versions
(``Client.get_versions(check=True)``, ``distributed.versions.error_message``) and prints a table; this module
runs the same check and says which package differs, its version on each side, and what to install.

:func:`compare` reads the output of ``Client.get_versions()``; :func:`check` asks a client for it, warns once
(:class:`labkit.errors.ClusterVersionWarning`) and returns a :class:`VersionReport`; :func:`check_panel` does
that for a :class:`labkit.cluster_panel.ClusterPanel` and tells its status line.

Examples
--------
>>> here = {"packages": {"python": "3.13.0.final.0", "dask": "2026.8.0", "distributed": "2026.8.0"}}
>>> there = {"packages": {"python": "3.13.0.final.0", "dask": "2025.7.0", "distributed": "2025.7.0"}}
>>> report = compare({"client": here, "scheduler": there, "workers": {"tcp://w:1": there}})
>>> [m.package for m in report.mismatches]
['dask', 'distributed']
>>> report.install_command()
'pip install dask==2025.7.0 distributed==2025.7.0'
"""

from __future__ import annotations

import contextlib
import html
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit.errors import ClusterVersionWarning

log = logging.getLogger("labkit.cluster_versions")

#: what distributed compares with the scheduler (``distributed.versions.scheduler_relevant_packages``: the
#: scheduler's other packages, e.g. numpy, need not match); the workers' and the client's are all compared
SCHEDULER_PACKAGES = frozenset({"dask", "distributed", "cloudpickle", "tornado", "toolz", "lz4", "python"})
#: packages whose versions are not pip's to set
NOT_PIP = frozenset({"python"})
UNKNOWN = "UNKNOWN"  # distributed's word for a side that did not answer
MISSING = "MISSING"  # distributed's word for a package a side does not report


@dataclass(frozen=True)
class Mismatch:
    """One package whose version is not the same everywhere.

    Attributes
    ----------
    package : str
    client : str or None
        The notebook's version (``None``: not installed).
    scheduler : str or None
        The scheduler's version, ``None`` when not installed there; ``""`` when distributed does not compare it.
    workers : tuple of str or None
        The distinct versions on the workers, sorted (``None``: not installed there).
    """

    package: str
    client: str | None
    scheduler: str | None
    workers: tuple[str | None, ...]

    @property
    def cluster(self) -> str | None:
        """The cluster's one version (scheduler's, else the workers'), or ``None`` when they disagree or lack it."""
        sides = ({self.scheduler} if self.scheduler != "" else set()) | set(self.workers)
        return next(iter(sides)) if len(sides) == 1 else None

    def describe(self) -> str:
        """``dask: 2026.8.0 here, 2025.7.0 on the scheduler, 2025.7.0 on the workers``."""
        parts = [f"{_v(self.client)} here"]
        if self.scheduler != "":
            parts.append(f"{_v(self.scheduler)} on the scheduler")
        if self.workers:
            parts.append(f"{' / '.join(_v(w) for w in self.workers)} on the workers")
        return f"{self.package}: {', '.join(parts)}"


@dataclass(frozen=True)
class VersionReport:
    """What :func:`compare` found: the mismatches and the versions on each side.

    Attributes
    ----------
    mismatches : tuple of Mismatch
    client, scheduler : dict
        ``{package: version}`` of each side.
    workers : dict
        ``{worker address: {package: version}}``.
    error : str
        Why the versions could not be read (empty when they were).
    """

    mismatches: tuple[Mismatch, ...] = ()
    client: dict[str, Any] = field(default_factory=dict, repr=False)
    scheduler: dict[str, Any] = field(default_factory=dict, repr=False)
    workers: dict[str, Any] = field(default_factory=dict, repr=False)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the versions were read and match."""
        return not self.mismatches and not self.error

    def install_command(self) -> str:
        """``pip install pkg==version ...`` that gives the notebook the cluster's versions ("" when none would).

        Examples
        --------
        >>> VersionReport((Mismatch("dask", "2026.8.0", "2025.7.0", ("2025.7.0",)),)).install_command()
        'pip install dask==2025.7.0'
        """
        pins = [f"{m.package}=={m.cluster}" for m in self.mismatches if m.package not in NOT_PIP and m.cluster]
        return f"pip install {' '.join(pins)}" if pins else ""

    def fix(self) -> str:
        """What to do about the mismatches, in a sentence or two."""
        if not self.mismatches:
            return ""
        todo = []
        if command := self.install_command():
            todo.append(f"install the cluster's versions in the notebook's environment ({command}, then restart "
                        "the kernel)")
        python = next((m for m in self.mismatches if m.package == "python"), None)
        if python is not None and python.cluster:
            todo.append(f"use a kernel with Python {_python(python.cluster)} (the cluster's)")
        mine = " ".join(f"{m.package}=={m.client}" for m in self.mismatches if m.client and m.package not in NOT_PIP)
        todo.append("run the cluster on an image with this notebook's versions"
                    + (f" ({mine}" + (f", Python {_python(python.client)}" if python and python.client else "")
                       + "; on a gateway, the cluster option image)" if mine else ""))
        split = [m.package for m in self.mismatches if m.cluster is None and len(m.workers) > 1]
        tail = (f" The workers disagree among themselves on {', '.join(split)}: they run different images."
                if split else "")
        said = ", or ".join(todo)
        return ("Either " + said if len(todo) > 1 else said[0].upper() + said[1:]) + "." + tail

    def message(self) -> str:
        """The whole warning: each package, its versions on each side, and the fix."""
        if self.error:
            return f"the cluster's package versions could not be read ({self.error})"
        if not self.mismatches:
            return "the notebook, the scheduler and the workers run the same package versions"
        lines = "\n".join(f"  {m.describe()}" for m in self.mismatches)
        return (f"the Dask cluster runs other package versions than this notebook, so tasks may fail or "
                f"differ:\n{lines}\n{self.fix()}")

    def summary(self) -> str:
        """One line for a status display: ``versions differ: dask 2026.8.0 here, 2025.7.0 on the cluster``."""
        if not self.mismatches:
            return ""
        shown = "; ".join(f"{m.package} {_v(m.client)} here, {_v(m.cluster) if m.cluster else 'other'} on the "
                          "cluster" for m in self.mismatches[:3])
        more = f" (+{len(self.mismatches) - 3} more)" if len(self.mismatches) > 3 else ""
        return f"versions differ: {shown}{more}"


def compare(versions: Mapping[str, Any]) -> VersionReport:
    """Compare the output of ``distributed.Client.get_versions()`` as distributed's own check does.

    A package mismatches when its versions on the client and the workers (and, for the packages distributed
    compares there, :data:`SCHEDULER_PACKAGES`, the scheduler) are not all the same: the rule of
    ``distributed.versions.error_message``.

    Parameters
    ----------
    versions : mapping
        ``{"client": ..., "scheduler": ..., "workers": {address: ...}}``, each ``{"packages": {name: version}}``.

    Returns
    -------
    VersionReport

    Examples
    --------
    >>> same = {"packages": {"dask": "2026.8.0"}}
    >>> compare({"client": same, "scheduler": same, "workers": {"tcp://w:1": same}}).ok
    True
    """
    client = _packages(versions.get("client"))
    scheduler = _packages(versions.get("scheduler"))
    workers = {w: _packages(v) for w, v in (versions.get("workers") or {}).items()}
    names = set()
    for side in (client, scheduler, *workers.values()):
        if isinstance(side, dict):
            names.update(side)
    found = []
    for pkg in sorted(names):
        mine = _get(client, pkg)
        on_scheduler = _get(scheduler, pkg)
        on_workers = {_get(w, pkg) for w in workers.values()}
        seen = {mine, *on_workers} | ({on_scheduler} if pkg in SCHEDULER_PACKAGES else set())
        if len(seen) > 1:
            found.append(Mismatch(pkg, mine, on_scheduler if pkg in SCHEDULER_PACKAGES else "",
                                  tuple(sorted(on_workers, key=lambda v: (v is None, str(v))))))
    return VersionReport(tuple(found), client if isinstance(client, dict) else {},
                         scheduler if isinstance(scheduler, dict) else {},
                         {w: v for w, v in workers.items() if isinstance(v, dict)})


def check(client: Any, previous: VersionReport | None = None, packages: Sequence[str] = ()) -> VersionReport:
    """Ask a running client's scheduler and workers for their versions (distributed's check), warn on a mismatch.

    The warning (:class:`labkit.errors.ClusterVersionWarning`) comes once per mismatch: not again when
    ``previous`` found the same. distributed's own warning of the same check is replaced by it.

    Parameters
    ----------
    client : distributed.Client
    previous : VersionReport, optional
        The last report for this client.
    packages : sequence of str
        More packages to compare (e.g. ``["dask-gateway"]``).

    Returns
    -------
    VersionReport
        With ``error`` set (and no warning) when the versions could not be read.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            versions = client.get_versions(check=True, packages=list(packages))
    except Exception as exc:  # noqa: BLE001 - a check must not stop the work
        log.debug("get_versions: %s", exc)
        return VersionReport(error=f"{exc.__class__.__name__}: {exc}")
    flagged = [str(w.message) for w in caught if "ismatched versions" in str(w.message)]
    for w in caught:
        if str(w.message) not in flagged:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    report = compare(versions)
    if flagged and not report.mismatches:  # distributed found what this module does not know: its own words
        report = VersionReport(error="", client=report.client, scheduler=report.scheduler, workers=report.workers,
                               mismatches=(Mismatch("(see distributed's table)", None, "", ()),))
        warnings.warn(ClusterVersionWarning(flagged[0]), stacklevel=2)
        return report
    if report.mismatches and (previous is None or previous.mismatches != report.mismatches):
        warnings.warn(ClusterVersionWarning(report.message()), stacklevel=2)
    return report


def check_panel(panel: Any) -> VersionReport | None:
    """Check a started :class:`~labkit.cluster_panel.ClusterPanel`'s versions; keep the report on the panel.

    The report goes to ``panel.versions`` (shown in the panel's status line by :func:`status_html`), a new
    mismatch to the panel's messages and one warning. A gateway cluster's ``dask-gateway`` is compared too.
    """
    client = getattr(panel, "_client", None)
    if client is None:
        return None
    previous = panel.versions
    extra = ["dask-gateway"] if panel.backend == "gateway" else []
    report = check(client, previous, extra)
    panel.versions = report
    if report.mismatches and (previous is None or previous.mismatches != report.mismatches):
        panel._say(report.summary() + f" ({report.install_command() or 'see the warning'})")
    return report


def status_html(report: VersionReport | None) -> str:
    """The panel's status-line part for a report: nothing when the versions match or were not read."""
    if report is None or not report.mismatches:
        return ""
    command = report.install_command()
    tip = html.escape(report.message(), quote=True)
    return (f"<br><span class='labkit-version-mismatch' style='color:#b00020' title='{tip}'>"
            f"&#9888; {html.escape(report.summary())}"
            + (f" &middot; fix: <code>{html.escape(command)}</code>" if command else "") + "</span>")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide distributed's connect-time ``VersionMismatchWarning`` (:func:`check` says the same, with the fix)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mismatched versions found")
        yield


def _packages(side: Any) -> Any:
    if not side:
        return UNKNOWN
    return side.get("packages", UNKNOWN) if isinstance(side, Mapping) else UNKNOWN


def _get(side: Any, pkg: str) -> str | None:
    value = side.get(pkg, None) if isinstance(side, dict) else side
    return None if value in (None, MISSING) else str(value)


def _v(version: str | None) -> str:
    return "not installed" if version is None else version


def _python(version: str) -> str:
    return ".".join(version.split(".")[:3])  # 3.13.0.final.0 -> 3.13.0
