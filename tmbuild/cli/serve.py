"""`tmbuild serve`: the site built, served as its host would, rebuilt and reloaded on changes."""

from __future__ import annotations

import click

from tmbuild.cli.common import common_options, config_options, load_site_config, setup_logging


@click.command()
@config_options
@click.option(
    "-p",
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; only this machine can connect to the default one.",
)
@click.option("--no-build", is_flag=True, help="Serve the output as it is; no first build.")
@click.option("--no-watch", is_flag=True, help="Do not rebuild and reload on changes.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a web browser.")
@common_options
def serve(
    config_path,
    model_path,
    quantize,
    base_url,
    strict,
    port,
    host,
    no_build,
    no_watch,
    open_browser,
    verbose,
    quiet,
):
    """Build the site, serve it as the host would, and rebuild and reload on changes.

    It applies _headers, serves the .br/.gz files by Accept-Encoding, and rebuilds when
    site.yaml, the templates or the model change; open pages reload by themselves.

    \b
    Examples:
      tmbuild serve                         # http://127.0.0.1:8000/
      tmbuild serve --port 0 --open         # a free port, opened in the browser
    """
    import signal

    setup_logging(verbose, quiet)
    from tmbuild.preview.watch import preview

    def echo(message: str, err: bool = False) -> None:
        if err or not quiet:
            click.echo(message, err=err)

    # A service manager's stop (SIGTERM) ends the server as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        preview(
            lambda: load_site_config(config_path, model_path, quantize, base_url, strict),
            host=host,
            port=port,
            build_first=not no_build,
            watch=not no_watch,
            open_browser=open_browser,
            echo=echo,
        )
    except KeyboardInterrupt:
        echo("Stopped.")
