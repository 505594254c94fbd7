"""Author notebooks/00_sandbox_tour.ipynb."""

from nb import build

build([
("md", """# A tour of the labkit sandbox

**Overview.** labkit's tutorials talk to remote services: the IDR image server (OMERO), public S3 object
stores, a STAC catalogue, a dask-gateway cluster and IPFS. `labkit.sandbox` runs *real* servers that speak the
same protocols on this machine, so every tutorial also runs with no internet. This tour starts the sandbox (or
finds the one already running), lists its endpoints and reads one thing from each service with the same client
library a scientist would use against the public service.

**Prerequisites.** `make lab` (or `labkit sandbox up`); nothing else. Credentials never appear in a cell: the
sandbox hands them to clients through the environment."""),
("parameters", """mode = "sandbox"  # "sandbox": local servers; "live": the public services (needs the internet)"""),
("md", """## Imports"""),
("code", """import labkit
import requests
import s3fs
from pystac_client import Client"""),
("md", """## Start (or find) the sandbox

`labkit.endpoints(mode)` returns where each service lives. In sandbox mode it finds the running sandbox (or
starts one in the background) and puts the S3 credentials into this kernel's environment, where s3fs reads
them. Its `repr` shows addresses only."""),
("code", """ep = labkit.endpoints(mode)
ep"""),
("md", """## S3: the IDR image, read anonymously

The sandbox bucket `idr` has the layout of the IDR's public bucket on EBI's S3."""),
("code", """fs = s3fs.S3FileSystem(**ep.idr_storage_options())
image_url = "idr/zarr/v0.1/6001240.zarr"
print(fs.ls(image_url))
print(fs.cat(f"{image_url}/.zattrs").decode()[:300], "...")"""),
("md", """## OMERO: the image's metadata through the OMERO.web JSON API"""),
("code", """meta = requests.get(f"{ep.omero}/api/v0/m/images/6001240/", timeout=30).json()["data"]
pixels = meta["Pixels"]
print(meta["Name"], [pixels[f"Size{a}"] for a in "TCZYX"], pixels["Type"]["value"])
print("pixel size:", pixels["PhysicalSizeX"]["Value"], pixels["PhysicalSizeX"]["Symbol"])
print("channels:", [c["Name"] for c in pixels["Channels"]])"""),
("md", """## STAC: search the flood collection"""),
("code", """catalog = Client.open(ep.stac)
items = catalog.search(collections="GFM", max_items=100).item_collection()
print(f"{len(items)} items; first: {items[0].id}")
print("bands:", list(items[0].assets))"""),
("md", """## dask-gateway: the cluster options a user can choose

`labkit.connect.gateway()` takes the address and credentials from the environment, the dask configuration
or the sandbox state, never from a cell."""),
("code", """from labkit import connect

if ep.gateway:
    gateway = connect.gateway(ep.gateway)
    options = gateway.cluster_options()
    print({name: options[name] for name in options})
    gateway.close()"""),
("md", """## Summary

Every service of the tutorials answered through its usual client. **What's next?** The tutorials in this
folder: IDR segmentation, IPFS + Zarr, EODC flood mapping, and the checkpointed cell pipeline.
Stop the background sandbox with `labkit sandbox down` when you are done.

### Resources
- [OME-NGFF](https://ngff.openmicroscopy.org/), [IDR](https://idr.openmicroscopy.org/)
- [STAC API](https://stacspec.org/), [dask-gateway](https://gateway.dask.org/)"""),
], "../notebooks/00_sandbox_tour.ipynb")
