"""labkit.packages: publish results as RO-Crate packages, and verify them (issue 24).

``publish`` packages finished results (a store, a manifest, checkpointed functions' targets) with how each
was made, into a folder, a zip, S3 or IPFS; ``verify`` and ``open_package`` check a package against the
sizes and SHA-256 it recorded (and its CID on IPFS), naming every file that differs.

Examples
--------
>>> import labkit
>>> pkg = labkit.publish("results/", "nuclei.zip", license="CC-BY-4.0")  # doctest: +SKIP
>>> labkit.verify("nuclei.zip")  # doctest: +SKIP
<VerifyReport /home/me/nuclei.zip: ok, 14 files checked>
"""

from labkit.packages.package import Package, open_package
from labkit.packages.publishing import publish
from labkit.packages.verifying import VerifyReport, verify

__all__ = ["Package", "VerifyReport", "open_package", "publish", "verify"]
