"""`tmbuild cache`: where the user cache is, what it holds, and removing its entries."""

from __future__ import annotations

import click

# Standard library only (~10 ms): `tmbuild --help` stays instant, and KINDS is declared once.
from tmbuild.cache import EVICTABLE, KINDS, cache_root, entries, remove, shown_size, size_limit
from tmbuild.cli.common import common_options, setup_logging

WHAT = {
    "compressed": "gzip and Brotli siblings, by content",
    "models": "prepared models",
    "tfjs": "TensorFlow.js files, never evicted",
}


@click.group()
def cache() -> None:
    """See or clean the user cache: compressed files, prepared models, TensorFlow.js.

    The cache is $TMBUILD_CACHE_DIR, else $XDG_CACHE_HOME/tmbuild, else ~/.cache/tmbuild.
    After a build writes to it, compressed/ and models/ are kept under $TMBUILD_CACHE_SIZE
    (default 1GB; e.g. 500MB, 2GB, or 0 to keep none), least recently used first out.
    tfjs/ is never evicted: builds need its files, and fetching them needs npm and network.

    \b
    Examples:
      tmbuild cache info
      tmbuild cache clean                   # compressed/ and models/
      TMBUILD_CACHE_SIZE=300MB tmbuild build
    """


@cache.command()
def info() -> None:
    """Say where the cache is, and how many entries and bytes each kind holds."""
    root = cache_root()
    found = entries(root)
    click.echo(f"Cache: {root}")
    for kind in KINDS:
        mine = [entry for entry in found if entry.kind == kind]
        size = shown_size(sum(entry.size for entry in mine))
        count = f"{len(mine):>7} {'entry' if len(mine) == 1 else 'entries'}"
        click.echo(f"  {kind + '/':<11}{count:<15}{size:>10}  {WHAT[kind]}")
    click.echo(
        f"Total: {_entries(len(found))}, {shown_size(sum(entry.size for entry in found))}; "
        f"compressed/ and models/ are kept under {shown_size(size_limit())} (TMBUILD_CACHE_SIZE)"
    )


@cache.command()
@click.argument("kinds", nargs=-1, type=click.Choice(KINDS))
@common_options
def clean(kinds, verbose, quiet) -> None:
    """Remove the entries of compressed/ and models/, or of the KINDS named.

    tfjs/ goes only when named. Only the cache's entries are removed: any other file in its
    folders stays, and no link is followed out of it.

    \b
    Examples:
      tmbuild cache clean                   # compressed/ and models/
      tmbuild cache clean models
      tmbuild cache clean tfjs              # then `tmbuild fetch-runtime` on a networked machine
    """
    setup_logging(verbose, quiet)
    kinds = tuple(kind for kind in KINDS if kind in kinds) or EVICTABLE
    root = cache_root()
    removed = remove(entries(root, kinds))
    if quiet:
        return
    for kind in kinds:
        mine = [entry for entry in removed if entry.kind == kind]
        size = shown_size(sum(entry.size for entry in mine))
        click.echo(f"{kind + '/':<12}removed {_entries(len(mine))}, {size}")
    kept = "" if "tfjs" in kinds else "; kept tfjs/"
    click.echo(
        f"Removed {_entries(len(removed))} ({shown_size(sum(e.size for e in removed))}) "
        f"from {root}{kept}"
    )


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"
