"""Published packages pass the official RO-Crate validator (rocrate-validator) and load in rdflib, offline.

Packages are checked at the REQUIRED level for RO-Crate 1.2 (the version they declare) and for Process Run Crate 0.5
(the profile they claim). The validator runs in this process with the RO-Crate JSON-LD contexts served from
``tests/fixtures/rocrate`` (:mod:`tests.rocrate_offline`); every other request it makes is refused and recorded.
A deliberately broken crate shows the validator really checks something here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import labkit
from labkit.results import OmeZarr, ResultStore, checkpoint
from tests.rocrate_offline import load_graph, validate
from tests.unit.test_packages import AUTHORS, make_store

pytest.importorskip("rocrate.rocrate")
pytest.importorskip("rocrate_validator", reason="roc-validator (the dev extra) validates the packages")

#: the one check of Process Run Crate 0.5 that a 1.2 crate cannot pass: the profile is built on RO-Crate 1.1, whose
#: descriptor must say 1.1 (RO-Crate 1.2 wants that single value to be 1.2: the crate is checked against 1.2)
PINNED_TO_1_1 = ("ro-crate-1.1: Metadata File Descriptor entity: `conformsTo` property: The RO-Crate metadata file "
                 "descriptor MUST have a `conformsTo` property with the RO-Crate specification version")


class Maker:
    def __init__(self, base):
        self.base = base

    def method(self, i):
        return np.arange(3, dtype=np.int16) + self.base + i


def functions(url):
    """Checkpointed code of every shape a function can have: a lambda, a nested function, a method, a plain one."""
    def nested(i, label="a <b> & c"):
        return np.full(4, i, np.uint8)

    return [checkpoint(url, target="lambda/{i}.npy")(lambda i: np.arange(3) * i),
            checkpoint(url, target="nested/{i}.npy")(nested),
            checkpoint(url, target="method/{i}.npy")(Maker(10).method),
            checkpoint(url, target="vol/{i}.ome.zarr", serializer=OmeZarr(dims="zyx", version="0.5"))(
                lambda i: np.full((2, 4, 4), i, np.uint8))]


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Packages as labkit publishes them: checkpointed functions (folder and zip), a whole store, a version."""
    out = tmp_path_factory.mktemp("validated")
    published = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABKIT_AUTHORS", AUTHORS)
        mp.setenv("LABKIT_LICENSE", "CC-BY-4.0")
        mp.setenv("JPY_SESSION_NAME", "analysis/01 nuclei <draft>.ipynb")  # as Jupyter names the notebook
        steps = functions(str(out / "functions"))
        for step in steps:
            step(1)
            step(2)
        published["functions"] = labkit.publish(steps, out / "functions-pkg")
        published["functions.zip"] = labkit.publish(steps, out / "functions.zip")
        mp.delenv("JPY_SESSION_NAME")
        make_store(str(out / "store"))
        published["store"] = labkit.publish(ResultStore(str(out / "store")), out / "store-pkg")
        if _has("icechunk"):
            from tests.unit.test_versioned_results import _steps

            url = str(out / "repo")
            thumb, volume = _steps(url)
            store = volume.store = thumb.store
            with store.run("first"):
                thumb(1)
                volume(1)
            store.tag("v1")
            with store.run("second"):
                thumb(2)
            published["version"] = labkit.publish(ResultStore(url, version="v1"), out / "v1-pkg")
    return published


def _has(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


KINDS = ["functions", "functions.zip", "store", "version"]


def _package(packages, kind):
    if kind not in packages:
        pytest.skip("icechunk (the versioned extra) is not installed")
    return packages[kind]


@pytest.mark.parametrize("kind", KINDS)
def test_every_package_passes_ro_crate_1_2_at_required(packages, kind):
    package = _package(packages, kind)
    failures, log = validate(package.url, "ro-crate-1.2")
    assert dict(failures) == {}
    assert log.served and not log.refused  # the contexts came from here, nothing else was asked for


@pytest.mark.parametrize("kind", KINDS)
def test_every_package_claims_and_passes_process_run_crate(packages, kind):
    package = _package(packages, kind)
    profile = "https://w3id.org/ro/wfrun/process/0.5"
    assert {"@id": profile} in package.root["conformsTo"]
    failures, log = validate(package.url, "process-run-crate-0.5", inherited=False)
    assert dict(failures) == {} and not log.refused


def test_with_the_ro_crate_1_1_checks_process_run_crate_builds_on_only_the_version_fails(packages):
    failures, _ = validate(packages["functions"].url, "process-run-crate-0.5")
    assert dict(failures) == {PINNED_TO_1_1: 1}


@pytest.mark.parametrize("kind", ["functions", "store", "version"])
def test_rdflib_loads_every_crate_with_only_valid_iris(packages, kind):
    import rdflib
    from rdflib.term import _is_valid_uri

    package = _package(packages, kind)
    graph = load_graph(package.url)
    iris = {str(t) for triple in graph for t in triple if isinstance(t, rdflib.URIRef)}
    assert iris and [iri for iri in iris if not _is_valid_uri(iri)] == []
    assert graph.serialize(format="nt")  # rdflib writes it back out
    schema = rdflib.Namespace("http://schema.org/")
    runs = set(graph.subjects(rdflib.RDF.type, schema.CreateAction))
    assert len(runs) == len(package.root["mentions"]) > 0
    for run in runs:  # each run's code and software have name, url and version (RO-Crate 1.2 requires them)
        for tool in graph.objects(run, schema.instrument):
            assert {schema.name, schema.url, schema.version} <= set(graph.predicates(tool))


def test_code_of_any_shape_is_named_and_found(packages):
    entities = {e["@id"]: e for e in packages["functions"].metadata["@graph"]}
    code = {e["name"].rsplit(".", 1)[-1]: e for e in entities.values() if str(e["@id"]).startswith("#code-")}
    assert set(code) == {"<lambda>", "nested", "method"}  # the two lambdas have one name
    assert code["method"]["name"].endswith("test_package_validation.Maker.method")
    assert code["nested"]["@id"].startswith("#code-tests.unit.test_package_validation.functions.%3Clocals%3E.nested-")
    notebook = entities[code["nested"]["isPartOf"]["@id"]]
    assert notebook["name"] == "analysis/01 nuclei <draft>.ipynb" and notebook["@type"] == "CreativeWork"
    assert labkit.verify(packages["functions"]).ok and labkit.verify(packages["functions.zip"]).ok
    read = labkit.open_package(packages["functions"].url)
    assert {f["name"] for f in read.files} >= {"lambda/1.npy", "nested/2.npy", "method/1.npy"}


def test_a_broken_crate_is_refused_offline(packages, tmp_path):
    """The validator runs here and checks: a crate as labkit wrote them before fails, and says why."""
    broken = tmp_path / "broken"
    shutil.copytree(packages["functions"].url, broken)
    metadata_file = broken / "ro-crate-metadata.json"
    metadata = json.loads(metadata_file.read_text())
    for entity in metadata["@graph"]:
        if str(entity["@id"]).startswith("#software-"):
            del entity["url"]
        if entity["@id"] == "./":
            del entity["conformsTo"]
    metadata_file.write_text(json.dumps(metadata))
    failures, log = validate(broken, "ro-crate-1.2")
    software = sum(1 for e in metadata["@graph"] if str(e["@id"]).startswith("#software-"))
    assert software and failures == {"ro-crate-1.2: SoftwareApplication/ComputerLanguage: REQUIRED `url`: A "
                                     "SoftwareApplication or ComputerLanguage MUST have a `url` property": software}
    assert log.served and not log.refused
    failures, _ = validate(broken, "process-run-crate-0.5", inherited=False)
    assert [name.split(": ")[1] for name in failures] == ["Root Data Entity conformsTo"]


def test_an_id_that_is_not_an_iri_is_caught(packages, tmp_path):
    from rdflib.term import _is_valid_uri

    broken = tmp_path / "lambda-id"
    shutil.copytree(packages["functions"].url, broken)
    text = (broken / "ro-crate-metadata.json").read_text()
    (broken / "ro-crate-metadata.json").write_text(text.replace("%3Clambda%3E", "<lambda>"))
    graph = load_graph(broken)
    assert any(not _is_valid_uri(str(t)) for triple in graph for t in triple)


def test_without_the_local_contexts_the_validator_cannot_run(packages, monkeypatch):
    """The contexts served here are what the validator needs; refused too, it stops (it reaches nothing else)."""
    import tests.rocrate_offline as offline

    monkeypatch.setattr(offline, "CONTEXTS", {})
    with pytest.raises(Exception, match="offline test: no request beyond this machine .https://w3id.org/ro/crate/1.2"):
        validate(packages["store"].url, "ro-crate-1.2")


def test_fixture_contexts_are_the_ro_crate_ones():
    for version in ("1.1", "1.2"):
        context = json.loads((Path(__file__).parents[1] / "fixtures" / "rocrate" / f"context-{version}.jsonld")
                             .read_text())
        assert context["@id"] == f"https://w3id.org/ro/crate/{version}/context"
        assert context["@context"]["CreateAction"] == "http://schema.org/CreateAction"
