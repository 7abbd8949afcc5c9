"""The ``critic`` command: parse, call the library, print. No logic lives here.

Each sub-command lives in its own module under :mod:`critic.cli.app`;
importing the module registers it on :data:`critic.cli.app.app`.

Exit codes: 0 done; 1 the command ran but did not get its result (e.g. a
session whose generator never produced a draft); 2 a user error (bad flag,
file, config or model), printed as one line; 130 interrupted.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

import critic.cli.calibrate
import critic.cli.config
import critic.cli.debate
import critic.cli.eval
import critic.cli.logs
import critic.cli.replay
import critic.cli.roles
import critic.cli.run
import critic.cli.score
import critic.cli.summarize
import critic.cli.view
import critic.cli.worker  # noqa: F401  (each import registers its commands)
from critic.cli.app import app
from critic.errors import CriticError

err = Console(stderr=True, highlight=False)

# typer >= 0.29 raises the exceptions of its own vendored click, older typer
# those of click itself; both are the bases of the public typer.BadParameter.
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)


def _critic_error(exc: BaseException) -> CriticError | None:
    """The first :class:`CriticError` inside ``exc`` (unwrapping task-group exception groups)."""
    if isinstance(exc, CriticError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _critic_error(inner)
            if found is not None:
                return found
    return None


def _usage_line(exc: Exception) -> str:
    message = str(getattr(exc, "format_message", lambda: str(exc))())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "critic"
    hint = f" (see '{path} --help')" if isinstance(exc, _USAGE_ERROR) else ""
    return " ".join(message.split()) + hint


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one line on stderr and exit code 2."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of raising.
        code = app(args=argv, standalone_mode=False, prog_name="critic")
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except BaseException as exc:
        found = _critic_error(exc)
        if found is not None:
            # Escaped: a message may quote brackets ("no [models.x] in critic.toml").
            err.print(f"[bold red]error:[/bold red] {escape(str(found))}", soft_wrap=True,
                      markup=True)
            return 2
        if isinstance(exc, _CLICK_EXCEPTION):
            err.print(f"[bold red]error:[/bold red] {_usage_line(exc)}", soft_wrap=True)
            return int(getattr(exc, "exit_code", 2)) or 2
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
