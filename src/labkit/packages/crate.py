"""The RO-Crate of a package: every file with size, SHA-256 and format, how each result was made, who and what licence.

Each result's provenance record becomes a ``CreateAction`` (as RO-Crate's provenance profiles describe a
run): its ``instrument`` is the code (``SoftwareSourceCode``: repository, commit, function, code hash,
notebook) and the software versions (``SoftwareApplication``), its ``object`` the parameters
(``PropertyValue``) and the inputs that are URLs (an ``ipfs://`` input carries its CID), its ``result``
the file or folder. Authors and licence come from configuration (:func:`labkit.config.authors`,
``$LABKIT_LICENSE``), never from code.
"""

from __future__ import annotations

import datetime as dt
import json
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
    return crate


def _folder_props(staging: Path, folder: str) -> dict[str, Any]:
    """A Zarr folder's description; an OME-Zarr one says which OME-NGFF version it follows."""
    props: dict[str, Any] = {"name": folder.rsplit("/", 1)[-1], "encodingFormat": "application/x-zarr"}
    version = None
    try:
        if (staging / folder / "zarr.json").is_file():
            attrs = json.loads((staging / folder / "zarr.json").read_text()).get("attributes", {})
            version = (attrs.get("ome") or {}).get("version")
        elif (staging / folder / ".zattrs").is_file():
            multiscales = json.loads((staging / folder / ".zattrs").read_text()).get("multiscales") or [{}]
            version = multiscales[0].get("version")
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
    code: dict[str, Any] = {"@id": f"#code-{function}-{record.get('code_hash', '')}", "@type": "SoftwareSourceCode",
                            "name": function, "identifier": record.get("code_hash"), "programmingLanguage": "Python"}
    repository = record.get("git_remote") or record.get("git_repository")
    if repository:
        code["codeRepository"] = repository
    if record.get("git_commit"):
        code["version"] = record["git_commit"]
        if record.get("git_dirty"):
            code["description"] = "the repository had uncommitted changes when this ran"
    if record.get("notebook"):
        code["isPartOf"] = _entity(crate, {"@id": f"#notebook-{quote(record['notebook'], safe='')}",
                                           "@type": "SoftwareSourceCode", "name": record["notebook"],
                                           "programmingLanguage": "Python"})
    instrument = [_entity(crate, code)]
    for package, version in sorted((record.get("versions") or {}).items()):
        instrument.append(_entity(crate, {"@id": f"#software-{package}-{version}", "@type": "SoftwareApplication",
                                          "name": package, "version": str(version)}))
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
