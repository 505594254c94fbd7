"""The RO-Crate of a package: every file with size, SHA-256 and format, how each result was made, who and what licence.

Each result's provenance record becomes a ``CreateAction``, as the Process Run Crate profile (which the
package claims) describes a run: its ``instrument`` is the code (a ``SoftwareApplication``: function, code hash,
repository, commit, notebook) and the software versions (``SoftwareApplication`` with a ``url``), its ``object``
the parameters (``PropertyValue``) and the inputs that are URLs (an ``ipfs://`` input carries its CID), its
``result`` the file or folder. Every ``@id`` is an IRI, whatever the function (lambda, nested, method).
Authors and licence come from configuration (:func:`labkit.config.authors`, ``$LABKIT_LICENSE``), never from code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from labkit._lazy import attempt_import
from labkit.errors import ConfigurationError
from labkit.packages.collect import Contents, Result
from labkit.packages.formats import NGFF, PRONOM, file_format, folder_of

#: the RO-Crate version labkit writes
ROCRATE_VERSION = "1.2"
METADATA = "ro-crate-metadata.json"
#: the profile of RO-Crate for runs of code, which provenance tools (WorkflowHub, runcrate) read; packages claim it
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
_URL = re.compile(r"^(s3|gs|https?|ipfs)://", re.IGNORECASE)


def license_entity(license: str) -> dict[str, Any]:
    """The contextual entity of a licence given as an SPDX identifier (``CC-BY-4.0``) or a URL.

    Examples
    --------
    >>> license_entity("CC-BY-4.0")["@id"]
    'https://spdx.org/licenses/CC-BY-4.0'
    """
    if re.match(r"^https?://", license):
        return {"@id": license, "@type": "CreativeWork", "name": license.rstrip("/").rsplit("/", 1)[-1]}
    if not re.fullmatch(r"[A-Za-z0-9.+-]+", license):
        raise ConfigurationError(f"the licence {license!r} is neither an SPDX identifier (such as CC-BY-4.0) nor a "
                                 "URL")
    return {"@id": f"https://spdx.org/licenses/{license}", "@type": "CreativeWork", "name": license,
            "identifier": license}


def person_entity(person: Mapping[str, str], index: int) -> dict[str, Any]:
    """A ``Person`` from a configured author (``name``, optional ``orcid``, ``affiliation``, ``email``)."""
    entity: dict[str, Any] = {"@id": person.get("orcid") or f"#author-{index}", "@type": "Person",
                              "name": person["name"]}
    for key in ("affiliation", "email"):
        if person.get(key):
            entity[key] = person[key]
    return entity


def build_crate(staging: Path, contents: Contents, digests: Mapping[str, str], *, name: str, description: str,
                license: str, authors: Sequence[Mapping[str, str]], etags: Mapping[str, str] | None = None,
                version: str | None = None) -> Any:
    """An ``rocrate.rocrate.ROCrate`` of the files staged in ``staging`` (name -> SHA-256 in ``digests``).

    ``version``: the version of a versioned store the files are (its tag, branch or commit), the crate's ``version``.
    """
    rocrate = attempt_import("rocrate.rocrate")
    crate = rocrate.ROCrate(version=ROCRATE_VERSION)
    crate.name, crate.description = name, description
    crate.datePublished = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    if version:
        crate.root_dataset["version"] = version
    lic = crate.add_jsonld(license_entity(license))
    crate.license = lic
    people = [crate.add_jsonld(person_entity(p, i)) for i, p in enumerate(authors, 1)]
    crate.creator = people
    crate.root_dataset["author"] = people

    formats: dict[str, Any] = {}
    entities: dict[str, Any] = {}  # name -> File or Dataset entity
    top: list[Any] = []
    for file in sorted(digests):
        fmt = file_format(file)
        props: dict[str, Any] = {"name": file.rsplit("/", 1)[-1], "contentSize": str((staging / file).stat().st_size),
                                 "sha256": digests[file], "encodingFormat": fmt.encoding_format()}
        if fmt.conforms_to:
            props["conformsTo"] = {"@id": fmt.conforms_to}
        if fmt.pronom and fmt.pronom not in formats:
            formats[fmt.pronom] = crate.add_jsonld({"@id": PRONOM + fmt.pronom, "@type": "WebPage",
                                                    "name": fmt.name})
        entity = crate.add_file(staging / file, dest_path=file, properties=props)
        entities[file] = entity
        folder = folder_of(file)
        if folder is None:
            top.append(entity)
            continue
        if folder not in entities:
            entities[folder] = crate.add_dataset(None, dest_path=folder, properties=_folder_props(staging, folder))
            top.append(entities[folder])
        entities[folder].append_to("hasPart", entity)
    crate.root_dataset["hasPart"] = top  # files inside a dataset folder are listed by that folder

    actions = [_action(crate, r, entities[r.name], etags or {}) for r in contents.results]
    if actions:
        crate.root_dataset["mentions"] = actions
        crate.root_dataset["conformsTo"] = [_entity(crate, {
            "@id": PROCESS_RUN_CRATE, "@type": ["CreativeWork", "Profile"], "name": "Process Run Crate",
            "version": PROCESS_RUN_CRATE.rsplit("/", 1)[-1]})]
    return crate


def _folder_props(staging: Path, folder: str) -> dict[str, Any]:
    """A Zarr folder's description; an OME-Zarr one says which OME-NGFF version it follows."""
    props: dict[str, Any] = {"name": folder.rsplit("/", 1)[-1], "encodingFormat": "application/x-zarr"}
    from labkit import _zarr
    from labkit.ngff.spec import version_in

    try:
        attrs = _zarr.local_attributes(staging / folder)
        version = version_in(attrs) if attrs is not None else None
    except (ValueError, AttributeError):
        version = None
    if version:
        props["conformsTo"] = {"@id": NGFF.format(version=version)}
    return props


def _ref(entity: Any) -> dict[str, str]:
    return {"@id": entity.id}


def _entity(crate: Any, jsonld: dict[str, Any]) -> dict[str, str]:
    """A reference to the contextual entity ``jsonld``, added unless one of its ``@id`` is there already."""
    found = crate.get(jsonld["@id"])
    return _ref(found if found is not None else crate.add_jsonld(jsonld))


def _action(crate: Any, result: Result, entity: Any, etags: Mapping[str, str]) -> Any:
    """The ``CreateAction`` that made ``result``, from its provenance record."""
    record = result.record
    slug = quote(result.name, safe="")
    function = record.get("function", "unknown")
    instrument = [_entity(crate, code_entity(record))]
    if record.get("notebook"):
        notebook = _entity(crate, {"@id": f"#notebook-{fragment(record['notebook'])}", "@type": "CreativeWork",
                                   "name": record["notebook"], "encodingFormat": "application/x-ipynb+json"})
        crate.get(instrument[0]["@id"])["isPartOf"] = notebook
    for package, version in sorted((record.get("versions") or {}).items()):
        instrument.append(_entity(crate, software_entity(package, str(version))))
    objects = []
    for key, value in sorted((record.get("arguments") or {}).items()):
        shown = value if isinstance(value, (int, float, bool)) else str(value)
        objects.append(_entity(crate, {"@id": f"#parameter-{slug}-{quote(key, safe='')}", "@type": "PropertyValue",
                                       "name": key, "value": shown}))
        if isinstance(value, str) and _URL.match(value):
            objects.append(_entity(crate, _input(value, etags.get(value))))
    action: dict[str, Any] = {"@id": f"#run-{slug}", "@type": "CreateAction",
                              "name": f"{function} made {result.name}", "instrument": instrument,
                              "result": _ref(entity), "object": objects}
    if record.get("computed_at"):
        action["endTime"] = record["computed_at"]
    return crate.add_jsonld(action)


def fragment(text: str) -> str:
    """``text`` made safe for the fragment of an ``#id``: any function's name, ``<locals>`` and ``<lambda>`` too.

    Examples
    --------
    >>> fragment("steps.<locals>.<lambda>")
    'steps.%3Clocals%3E.%3Clambda%3E'
    """
    return quote(text, safe="._-~")


def code_entity(record: Mapping[str, Any]) -> dict[str, Any]:
    """The code that made a result, as the ``SoftwareApplication`` its run used (Process Run Crate's instrument).

    Not a ``SoftwareSourceCode``: RO-Crate 1.2 makes that a file of the crate, and a provenance record names a
    function, not its file. ``url`` is where the code was (the repository's remote, else its folder), else the
    entity itself; ``version`` the commit, else the code's hash.

    Examples
    --------
    >>> e = code_entity({"function": "m.f.<locals>.<lambda>", "code_hash": "ab12",
    ...                  "git_remote": "git@github.com:lab/analysis.git", "git_commit": "c0ffee"})
    >>> e["@id"], e["url"], e["version"]
    ('#code-m.f.%3Clocals%3E.%3Clambda%3E-ab12', 'https://github.com/lab/analysis', 'c0ffee')
    >>> code_entity({"function": "f", "code_hash": "ab12"})["url"]  # run outside any repository
    {'@id': '#code-f-ab12'}
    """
    function = record.get("function", "unknown")
    code_id = f"#code-{fragment(function)}-{fragment(record.get('code_hash') or '')}"
    code: dict[str, Any] = {"@id": code_id, "@type": "SoftwareApplication", "name": function,
                            "identifier": record.get("code_hash"), "programmingLanguage": "Python",
                            "version": record.get("git_commit") or record.get("code_hash") or "unknown"}
    remote = _web_url(record["git_remote"]) if record.get("git_remote") else None
    folder = record.get("git_repository")
    repository = remote or (Path(folder).as_uri() if folder and Path(folder).is_absolute() else None)
    if repository:
        code["codeRepository"] = code["url"] = repository
    else:
        code["url"] = {"@id": code_id}  # no repository recorded: this description is all there is
    if record.get("git_commit") and record.get("git_dirty"):
        code["description"] = "the repository had uncommitted changes when this ran"
    return code


def software_entity(package: str, version: str) -> dict[str, Any]:
    """A ``SoftwareApplication`` of a recorded package version, with a ``url`` known without network.

    Examples
    --------
    >>> software_entity("numpy", "2.1.0")["url"]
    'https://pypi.org/project/numpy/2.1.0/'
    >>> software_entity("python", "3.13.0")["url"]
    'https://www.python.org/downloads/release/python-3130/'
    """
    if package == "python":
        url = f"https://www.python.org/downloads/release/python-{version.replace('.', '')}/"
    elif package == "labkit":
        url = _labkit_url()
    else:
        url = f"https://pypi.org/project/{quote(package, safe='')}/{quote(version, safe='')}/"
    return {"@id": f"#software-{fragment(package)}-{fragment(version)}", "@type": "SoftwareApplication",
            "name": package, "version": version, "url": url}


def _labkit_url() -> str:
    """The labkit project's own source address (its ``Source`` project URL); labkit is not on PyPI under that name."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        for entry in metadata("labkit").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() == "source" and url.strip():
                return url.strip()
    except PackageNotFoundError:
        pass
    return "https://github.com/labkit/labkit"


def _web_url(remote: str) -> str:
    """A git remote as a web address: ``git@host:owner/repo.git`` -> ``https://host/owner/repo``; no credentials."""
    scp = re.fullmatch(r"[\w.-]+@([\w.-]+):(?!/)(.+)", remote)
    url = f"https://{scp[1]}/{scp[2]}" if scp else remote
    url = re.sub(r"^(\w+://)[^/@]*@", r"\1", url)  # user:token@ never published
    if url.startswith("ssh://"):
        url = "https://" + url[len("ssh://"):]
    return url.removesuffix(".git")


def urls_in(contents: Contents) -> list[str]:
    """The arguments of the package's results that are URLs (its inputs)."""
    return sorted({v for r in contents.results for v in (r.record.get("arguments") or {}).values()
                   if isinstance(v, str) and _URL.match(v)})


def _input(url: str, etag: str | None) -> dict[str, Any]:
    """An input given as a URL: an IPFS one names its CID (immutable); another, its ETag when known."""
    entity: dict[str, Any] = {"@id": url, "@type": "CreativeWork", "url": url}
    if url.lower().startswith("ipfs://"):
        entity["identifier"] = url[len("ipfs://"):].split("/", 1)[0]
    elif etag:
        entity["identifier"] = f"ETag {etag}"
    return entity
