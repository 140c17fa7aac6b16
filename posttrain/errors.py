"""Errors a person can act on: each names what is wrong, the bad value and the fix."""

from __future__ import annotations


class PosttrainError(Exception):
    """Base class of every error raised on purpose by the library."""


class Problem:
    """One problem found while checking input: where, what, the bad value, and the fix."""

    __slots__ = ("where", "message", "fix")

    def __init__(self, where: str, message: str, fix: str = "") -> None:
        self.where, self.message, self.fix = where, message, fix

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        return f"{text}. Fix: {self.fix}" if self.fix else text

    def __repr__(self) -> str:
        return f"Problem({str(self)!r})"


class ProblemsError(PosttrainError, ValueError):
    """Several problems gathered into one error, so a user fixes them all in one pass."""

    title = "invalid input"
    max_shown = 20

    def __init__(self, problems: list[Problem] | Problem | str, title: str | None = None) -> None:
        if isinstance(problems, (Problem, str)):
            problems = [problems if isinstance(problems, Problem) else Problem("input", problems)]
        self.problems = list(problems)
        self.title = title or self.title
        shown = [f"  - {p}" for p in self.problems[: self.max_shown]]
        hidden = len(self.problems) - len(shown)
        if hidden > 0:
            shown.append(f"  ... and {hidden} more")
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{self.title} ({count} {noun}):\n" + "\n".join(shown))


class DataError(ProblemsError):
    """A dataset that cannot be used: a missing file, a bad row, mixed formats, ..."""

    title = "invalid data"


class ConfigError(ProblemsError):
    """A pipeline or stage setting that cannot be used."""

    title = "invalid configuration"


class StageFailed(ProblemsError):
    """A stage that ran but could not learn (every reward failed, no reward ever differed within a group):
    it ends as failed, with the reason and the fix, and its model is not kept."""

    title = "a stage failed"


def short(value: object, limit: int = 60) -> str:
    """A value's repr cut to `limit` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


EXIT_USAGE = 2     # a command's exit status when the library refused the input, as for a bad option
EXIT_FAILED = 1    # ... when a stage ran and failed (StageFailed)
EXIT_INTERRUPTED = 130   # ... when the user pressed Ctrl-C (128 + SIGINT), as a shell reports it


def print_error(err: Exception) -> None:
    """A library error as every command shows it: "error: " and the message, on stderr."""
    from rich.console import Console
    from rich.text import Text

    # The message is plain text (a path or a row may hold "[...]") and is not broken into
    # lines: a terminal wraps it, and a log keeps each path and phrase whole for grep.
    message = Text("error: ", style="red") + Text(str(err))
    Console(stderr=True, soft_wrap=True).print(message, highlight=False)
