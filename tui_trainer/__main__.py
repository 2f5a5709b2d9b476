"""`python -m tui_trainer` runs the `smtui` command."""

from .cli import run

run()
