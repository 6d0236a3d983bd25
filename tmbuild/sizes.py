"""Byte counts for people: one style for the build summary, `tmbuild diff` and eval reports."""

from __future__ import annotations


def format_size(size: int) -> str:
    """1234 → '1.2 kB', in decimal units as browsers' network panels show them."""
    size = abs(size)
    if size < 1000:
        return f"{size} B"
    if size < 999_950:  # what would round to "1000.0 kB" reads better as "1.00 MB"
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.2f} MB"


def format_delta(delta: int) -> str:
    """A change in size with its sign: '+1.2 kB', '-2.30 MB', '0 B'."""
    if delta == 0:
        return "0 B"
    return ("+" if delta > 0 else "-") + format_size(delta)
