"""The ``labkit`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labkit.errors import LabkitError


@click.group()
@click.version_option(package_name="labkit")
def main() -> None:
    """labkit: parallel analysis of remote images and rasters, with a local sandbox of the services."""


@main.group()
def sandbox() -> None:
    """Start, inspect and stop the local sandbox of services."""


@sandbox.command("up")
@click.option("--services", default=None, help="Comma-separated subset of s3,stac,gateway,omero,ipfs.")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_up(services: str | None, root: Path | None) -> None:
    """Start the sandbox in the background and print its endpoints (never its credentials)."""
    from labkit.sandbox import start_background

    sb = start_background(services, root)
    click.echo(repr(sb))
    click.echo(f"state file: {sb.root / 'state.json'}  (credentials are in it, readable by you only)")


@sandbox.command("status")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_status(root: Path | None) -> None:
    """Print the running sandbox's endpoints, or say that none runs (exit code 1)."""
    from labkit.sandbox import current, default_root

    sb = current(root)
    if sb is None:
        click.echo(f"no sandbox is running in {root or default_root()}")
        sys.exit(1)
    click.echo(repr(sb))


@sandbox.command("down")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_down(root: Path | None) -> None:
    """Stop the background sandbox and every process it started."""
    from labkit.sandbox import down

    click.echo("sandbox stopped" if down(root) else "no sandbox was running")


@main.command("info")
@click.argument("url")
@click.option("--endpoint-url", default=None, help="S3 endpoint, e.g. https://uk1s3.embassy.ebi.ac.uk")
def info_cmd(url: str, endpoint_url: str | None) -> None:
    """Print an OME-Zarr image's metadata (reads metadata only)."""
    from labkit.load_remote import info

    info(url, endpoint_url=endpoint_url)


@main.command("download")
@click.argument("url")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--endpoint-url", default=None, help="S3 endpoint, e.g. https://uk1s3.embassy.ebi.ac.uk")
def download_cmd(url: str, dest: Path, endpoint_url: str | None) -> None:
    """Download URL (an OME-Zarr folder ...) into DEST, resumably."""
    from labkit.load_remote import download

    click.echo(download(url, dest, endpoint_url=endpoint_url))


@main.group()
def tutorials() -> None:
    """Run the tutorial notebooks."""


@tutorials.command("run")
@click.argument("notebooks", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--live", is_flag=True, help="Use the public services instead of the sandbox.")
@click.option("--output", type=click.Path(path_type=Path), default=Path("build/tutorials"), show_default=True)
@click.option("--folder", type=click.Path(path_type=Path), default=Path("notebooks"), show_default=True)
def tutorials_run(notebooks: tuple[Path, ...], live: bool, output: Path, folder: Path) -> None:
    """Execute the tutorials headless (starting and stopping a sandbox unless --live) and print a table."""
    from labkit import sandbox as sbx
    from labkit import tutorials as tut

    paths = list(notebooks) or tut.find_notebooks(folder)
    if not paths:
        raise click.ClickException(f"no notebooks found in {folder}")
    started = False
    if not live and sbx.current() is None:
        click.echo("starting the sandbox ...")
        sbx.start_background()
        started = True
    try:
        outcomes = tut.run(paths, output, {"mode": "live" if live else "sandbox"})
    finally:
        if started:
            sbx.down()
    click.echo(tut.table(outcomes))
    click.echo(f"executed notebooks are in {output}/")
    if any(o.status != "ok" for o in outcomes):
        sys.exit(1)


def run() -> None:
    """Entry point that turns labkit errors into one clear line instead of a traceback."""
    try:
        main(standalone_mode=True)
    except LabkitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
