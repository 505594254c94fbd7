"""The ``labkit`` command line."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from labkit.errors import LabkitError


@click.group()
@click.version_option(package_name="labkit")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """labkit: parallel analysis of remote images and rasters, with a local sandbox of the services."""
    ctx.obj = {"debug": debug}


@main.group()
def sandbox() -> None:
    """Start, inspect and stop the local sandbox of services."""


@sandbox.command("up")
@click.option("--services", default=None,
              help="Comma-separated subset of s3,stac,gateway,omero,ipfs,slurm (slurm starts only when named).")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_up(services: str | None, root: Path | None) -> None:
    """Start the sandbox in the background (or the services a running one lacks) and print its endpoints.

    Credentials are never printed.
    """
    from labkit.sandbox import current, ensure

    before = current(root)
    if before is not None and services is None:
        click.echo("the sandbox is already running")
    elif before is not None:
        click.echo(f"the sandbox is running; starting what it lacks of {services} ...")
    else:
        click.echo("starting the sandbox ...")
    sb = ensure(services, root, progress=click.echo)
    click.echo(repr(sb))
    click.echo(f"state file: {sb.root / 'state.json'}  (credentials are in it, readable by you only)")


@sandbox.command("status")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_status(root: Path | None) -> None:
    """Probe each service of the running sandbox; exit code 1 if none runs or one is dead."""
    from labkit.sandbox import current, default_root

    sb = current(root)
    if sb is None:
        click.echo(f"no sandbox is running in {root or default_root()}")
        sys.exit(1)
    health = sb.health()
    addresses = sb.shown_addresses()
    for name, problem in health.items():
        click.echo(f"{name:8s} {'ok  ' if problem is None else 'DEAD'} {addresses.get(name, '')}"
                   f"{'' if problem is None else '  (' + problem + ')'}")
    dead = sorted(n for n, p in health.items() if p)
    if dead:
        click.echo(f"{', '.join(dead)} not running: stop the sandbox (labkit sandbox down), start it again",
                   err=True)
        sys.exit(1)


@sandbox.command("env")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_env(root: Path | None) -> None:
    """Print the shell lines that point clients at the running sandbox, credentials included.

    For a shell: ``eval "$(labkit sandbox env)"``, then ``labkit info s3://results/...`` (or aws, s3fs, a
    script) reaches the sandbox's S3 with its key for the writable ``results`` bucket. These are the variables a
    notebook in sandbox mode gets (``AWS_*``, ``IPFS_*``, ``LABKIT_*``). The secrets are printed: do not paste
    them into notebooks or logs.
    """
    import shlex

    from labkit.sandbox import current, default_root

    sb = current(root)
    at = f" --root {shlex.quote(str(root))}" if root else ""
    if sb is None:
        from labkit.errors import SandboxError

        raise SandboxError(f"no sandbox is running in {root or default_root()}: start one with `labkit sandbox "
                           f"up{at}`, then run: eval \"$(labkit sandbox env{at})\"")
    click.echo(f"# the labkit sandbox in {sb.root} ({', '.join(sb.records)}); use: eval \"$(labkit sandbox env{at})\"")
    for key, value in sorted(sb.env().items()):
        click.echo(f"export {key}={shlex.quote(value)}")


@sandbox.command("down")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Sandbox folder.")
def sandbox_down(root: Path | None) -> None:
    """Stop the background sandbox and every process it started."""
    from labkit.sandbox import down

    click.echo("sandbox stopped" if down(root) else "no sandbox was running")


def _s3_options(f: Any) -> Any:
    """The S3 options of the commands that read a URL."""
    f = click.option("--anon/--signed", "anon", default=None,
                     help="S3: anonymous requests, or signed with the environment's credentials (default: signed "
                          "where the environment has credentials for the endpoint, else anonymous).")(f)
    return click.option("--endpoint-url", default=None, help="S3 endpoint, e.g. https://livingobjects.ebi.ac.uk")(f)


def _storage_options(anon: bool | None) -> dict[str, Any] | None:
    return None if anon is None else {"anon": anon}


def _sandbox_s3(bucket: str) -> Any:
    """The running sandbox's S3 connection when it serves ``bucket`` (asked of the local server), else ``None``."""
    from labkit.sandbox import running

    sb = running("s3")
    if sb is None:
        return None
    s3 = sb.s3
    try:
        import botocore.session
        from botocore.config import Config

        client = botocore.session.get_session().create_client(
            "s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.key, aws_secret_access_key=s3.secret,
            region_name=s3.region, config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10))
        client.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - no such bucket there, or the server does not answer: not the sandbox's
        return None
    return s3


@contextlib.contextmanager
def _endpoint_hint(url: str, endpoint_url: str | None) -> Any:
    """An ``s3://`` URL without an endpoint goes to AWS: a failure then says so and how to name another.

    When a labkit sandbox runs whose S3 has the URL's bucket, it is not sent to AWS at all: the error says at
    once that the sandbox runs and how to point the command at it.
    """
    from labkit.catalog import IDR_S3_ENDPOINT
    from labkit.errors import ConfigurationError
    from labkit.storage import environment_endpoint

    to_aws = url.startswith("s3://") and not endpoint_url and not environment_endpoint()
    if to_aws:
        bucket = url.removeprefix("s3://").split("/", 1)[0]
        s3 = _sandbox_s3(bucket)
        if s3 is not None:
            raise ConfigurationError(
                f"{url}: no S3 endpoint was given (--endpoint-url, or $AWS_ENDPOINT_URL_S3), so this would go to "
                f"AWS; but a labkit sandbox is running and its S3 ({s3.endpoint_url}) has the bucket {bucket!r}. "
                f'To use it in this shell: eval "$(labkit sandbox env)", then run the command again; or pass '
                f"--endpoint-url {s3.endpoint_url} (to read AWS's bucket: --endpoint-url https://s3.amazonaws.com).")
    try:
        yield
    except LabkitError as exc:
        from labkit.errors import CredentialsNotFoundError

        if not to_aws or isinstance(exc, CredentialsNotFoundError):  # that one asked nobody
            raise
        raise type(exc)(f"{exc} (No --endpoint-url was given, so this asked AWS. For another S3 service pass "
                        f"--endpoint-url, e.g. --endpoint-url {IDR_S3_ENDPOINT} for IDR's data; for a labkit "
                        'sandbox run: eval "$(labkit sandbox env)".)') from None


@main.command("info")
@click.argument("url")
@_s3_options
def info_cmd(url: str, endpoint_url: str | None, anon: bool | None) -> None:
    """Print an OME-Zarr image's metadata (reads metadata only)."""
    from labkit.load_remote import info

    with _endpoint_hint(url, endpoint_url):
        info(url, endpoint_url=endpoint_url, storage_options=_storage_options(anon))


@main.command("download")
@click.argument("url")
@click.argument("dest", type=click.Path(path_type=Path))
@_s3_options
def download_cmd(url: str, dest: Path, endpoint_url: str | None, anon: bool | None) -> None:
    """Download URL (an OME-Zarr folder ...) into DEST, resumably."""
    from labkit.downloads import download

    with _endpoint_hint(url, endpoint_url):
        click.echo(download(url, dest, endpoint_url=endpoint_url, storage_options=_storage_options(anon)))


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
        outcomes = tut.run(paths, output, {"mode": "live" if live else "sandbox"}, echo=click.echo)
    finally:
        if started:
            sbx.down()
    click.echo(tut.table(outcomes))
    click.echo(f"executed notebooks are in {output}/")
    if any(o.status != "ok" for o in outcomes):
        sys.exit(1)


def run(argv: list[str] | None = None) -> None:
    """Entry point: an error is one clear line and exit code 2 (the traceback only with ``--debug``)."""
    args = sys.argv[1:] if argv is None else argv
    # the AWS clients' own credential chains end at the instance-metadata address (169.254.169.254): only when
    # asked for (AWS_EC2_METADATA_DISABLED=false, see labkit.storage.instance_metadata_allowed)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    try:
        main(args=args, standalone_mode=False)
    except click.exceptions.Exit as exc:
        _leave(exc.exit_code, argv is None)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        if "--debug" in args:
            raise
        message = str(exc).strip() or type(exc).__name__
        if not isinstance(exc, LabkitError):
            message = f"{type(exc).__name__}: {message} (run with --debug for the traceback)"
        click.echo(f"error: {message}", err=True)
        _leave(2, argv is None)
    else:
        if argv is None:
            _leave(0, True)


def _leave(code: int, process: bool) -> None:
    """Exit with ``code``; as a command (``process``), at once once the exit handlers ran and the output is flushed.

    The interpreter's own shutdown can crash in a store's native I/O threads after the work is done (obstore's
    runtime: a SIGSEGV instead of exit code 2 after an error, and SIGABRT instead of 0 after ``labkit info``
    printed everything, each seen once in the suite on a busy machine); there is nothing left to do by then.
    """
    if not process:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()  # what labkit and its libraries registered (a sandbox this process started stops)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
