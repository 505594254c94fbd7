"""rocrate-validator and rdflib run on a package without network: the RO-Crate JSON-LD contexts come from local copies.

The validator fetches ``https://w3id.org/ro/crate/1.x/context`` with ``requests`` (its own HTTP client, not a labkit
server). :func:`offline_contexts` answers those two URLs from ``tests/fixtures/rocrate/`` (see its README for their
source) and refuses every other request, recording it, so nothing leaves the machine; rdflib's own fetcher (urllib),
the validator's fallback, is refused too.

Examples
--------
>>> failures = validate("published/cells", "ro-crate-1.2")  # doctest: +SKIP
>>> failures  # check name -> number of failures  # doctest: +SKIP
{}
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "rocrate"
CONTEXTS = {f"https://w3id.org/ro/crate/{v}/context": FIXTURES / f"context-{v}.jsonld" for v in ("1.1", "1.2")}
#: the validator's identifiers of the profiles labkit's packages claim
PROFILES = ("ro-crate-1.2", "process-run-crate-0.5")


class OfflineLog:
    """What the validator asked for: the contexts served locally and the URLs refused."""

    def __init__(self) -> None:
        self.served: list[str] = []
        self.refused: list[str] = []


def _context_path(url: str) -> Path | None:
    return CONTEXTS.get(url.split("#", 1)[0].rstrip("/"))


@contextlib.contextmanager
def offline_contexts() -> Iterator[OfflineLog]:
    """Answer requests' HTTP for the RO-Crate contexts from local files; refuse every other URL (and urllib's)."""
    import requests
    from rdflib.plugins.shared.jsonld import util as jsonld_util
    from requests.adapters import HTTPAdapter

    log = OfflineLog()

    def send(adapter: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        path = _context_path(request.url or "")
        if path is None:
            log.refused.append(str(request.url))
            raise requests.ConnectionError(f"offline test: no request beyond this machine ({request.url})")
        log.served.append(str(request.url))
        response = requests.Response()
        response.status_code = 200
        response._content = path.read_bytes()
        response.headers["Content-Type"] = "application/ld+json"
        response.url = str(request.url)
        response.request = request
        response.encoding = "utf-8"
        return response

    def refuse_urllib(source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, str) and source.lower().startswith(("http://", "https://")):
            path = _context_path(source)
            if path is None:
                log.refused.append(source)
                raise OSError(f"offline test: no request beyond this machine ({source})")
            log.served.append(source)
            return json.loads(path.read_text()), None
        return original(source, *args, **kwargs)

    original = jsonld_util.source_to_json
    loader = None
    with contextlib.suppress(ImportError):
        from rocrate_validator.utils import document_loader as loader
    with contextlib.ExitStack() as stack:
        mp = stack.enter_context(_monkeypatch())
        mp.setattr(HTTPAdapter, "send", send)
        mp.setattr(jsonld_util, "source_to_json", refuse_urllib)
        from rdflib.plugins.shared.jsonld import context as jsonld_context
        mp.setattr(jsonld_context, "source_to_json", refuse_urllib)
        if loader is not None:
            mp.setattr(loader, "_original_source_to_json", refuse_urllib)
        yield log


@contextlib.contextmanager
def _monkeypatch() -> Iterator[Any]:
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        yield mp


#: SPARQL queries of the validator's SHACL shapes, parsed and translated once: (text, base, namespaces) -> query
_QUERIES: dict[tuple[Any, ...], Any] = {}


@contextlib.contextmanager
def _prepared_queries() -> Iterator[None]:
    """rdflib's SPARQL queries prepared once per process (``rdflib.plugins.sparql.prepareQuery``, made for reuse).

    pyshacl asks rdflib the same 118 SPARQL queries for every crate, and rdflib parses each anew: 70 % of a
    validation's time (about 3.5 s of 5). Only the parsing is kept; each query is evaluated on its crate as before.
    """
    from rdflib.plugins.sparql import prepareQuery, processor

    original = processor.SPARQLProcessor.query

    def query(self: Any, strOrQuery: Any, initBindings: Any = None, initNs: Any = None, base: Any = None,
              DEBUG: bool = False) -> Any:
        if isinstance(strOrQuery, str):
            key = (strOrQuery, base, tuple(sorted((initNs or {}).items())))
            if key not in _QUERIES:
                _QUERIES[key] = prepareQuery(strOrQuery, initNs, base)
            strOrQuery = _QUERIES[key]
        return original(self, strOrQuery, initBindings, initNs, base, DEBUG)

    with _monkeypatch() as mp:
        mp.setattr(processor.SPARQLProcessor, "query", query)
        yield


def validate(crate: str | Path, profile: str, *, severity: str = "REQUIRED",
             inherited: bool = True) -> tuple[Counter[str], OfflineLog]:
    """Failures of ``crate`` (a folder or zip) at ``severity`` for ``profile``: check -> count, and the HTTP log.

    Each failure is named ``profile: check: message``. The validator runs with ``no_cache`` and
    ``skip_availability_check`` (the CLI's ``--no-cache --skip-availability-check``), its JSON-LD contexts served by
    :func:`offline_contexts`. ``inherited=False``: the issues of the profiles ``profile`` builds on are not reported
    (``disable_inherited_profiles_issue_reporting``), only its own checks'.
    """
    from rocrate_validator import services
    from rocrate_validator.models import ValidationSettings

    with offline_contexts() as log, _prepared_queries():
        settings = ValidationSettings(rocrate_uri=str(crate), profile_identifier=profile,
                                      requirement_severity=severity, no_cache=True, skip_availability_check=True,
                                      disable_inherited_profiles_issue_reporting=not inherited)
        result = services.validate(settings)
        failures = Counter(f"{issue.profile_identifier}: {issue.check.name}: {issue.message}"
                           for issue in result.get_issues())
    if not result.passed() and not failures:
        failures["(no issue reported, but the validation did not pass)"] = 1
    return failures, log


def load_graph(crate: str | Path) -> Any:
    """The crate's metadata loaded into an rdflib ``Graph`` with the local context (rdflib refuses ids not IRIs)."""
    import rdflib

    metadata = json.loads((Path(crate) / "ro-crate-metadata.json").read_text())
    with offline_contexts() as log:
        graph = rdflib.Graph().parse(data=json.dumps(metadata), format="json-ld",
                                     base=Path(crate).resolve().as_uri() + "/")
    assert log.served and not log.refused, (log.served, log.refused)
    return graph
