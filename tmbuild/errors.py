"""Errors a user can fix: each is printed as one clear line, never as a traceback."""

from __future__ import annotations


class TmbuildError(Exception):
    """A problem with the user's input; the CLI prints it and exits with `exit_status`."""

    exit_status = 1

    def lines(self) -> list[str]:
        """What the CLI prints, one `Error:` line each: a newline inside is never a new line."""
        return [str(self)]


class ConfigError(TmbuildError):
    """One or more problems in site.yaml, reported together."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def lines(self) -> list[str]:
        return self.problems


class ExportError(TmbuildError):
    """The Teachable Machine export cannot be used."""


class RuntimeFilesError(TmbuildError):
    """The pinned TensorFlow.js files cannot be found, fetched or verified."""
