"""The user's settings file: what smtui remembers between sessions, and defaults wanted every time.

`$XDG_CONFIG_HOME/smtui/settings.json` (`~/.config/smtui/settings.json` by default):

    {"theme": "textual-light", "defaults": {"out": "~/experiments", "epochs": 20}}

`theme` is the TUI's theme, saved when the user picks one (the command palette, `--theme`);
`defaults` are option values used where the command line gives none (below a --preset and the
options typed). The file is the user's: one that cannot be read, or a value that is not valid,
is a one-line warning and is otherwise ignored, never a crash; smtui writes it only to save a
theme, whole (a temporary file, then a rename), keeping the user's other keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def settings_path() -> Path:
    """Where the settings file lives (XDG_CONFIG_HOME, else ~/.config)."""
    root = os.environ.get("XDG_CONFIG_HOME") or ""
    base = Path(root) if os.path.isabs(root) else Path.home() / ".config"
    return base / "smtui" / "settings.json"


@dataclass
class Settings:
    """The settings file as read, with what was wrong in it."""

    theme: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)


def load(path: Path | None = None) -> Settings:
    """Read the settings file; a missing file is no settings, a broken one a warning."""
    path = path or settings_path()
    from .files import read_json_object
    if not path.exists():
        return Settings()
    raw, problem = read_json_object(path)   # bounded, and inert: as a run's files are read
    if problem:
        return Settings(warnings=[f"settings file {problem}: ignored"])
    if not isinstance(raw, dict):
        return Settings(warnings=[f"settings file {path} must hold a JSON object: ignored"])
    settings = Settings(raw=raw)
    theme = raw.get("theme")
    if isinstance(theme, str) and theme:
        settings.theme = theme
    elif theme is not None:
        settings.warnings.append(f"settings file {path}: theme must be a name: ignored")
    defaults = raw.get("defaults", {})
    if isinstance(defaults, dict):
        settings.defaults = defaults
    else:
        settings.warnings.append(f"settings file {path}: defaults must be an object of option "
                                 "values: ignored")
    return settings


def save_theme(theme: str, path: Path | None = None) -> str | None:
    """Remember `theme`, keeping the file's other keys; returns why it could not, or None.
    A settings file that is a link (dotfiles kept by stow) stays one: the file it points to
    is the one replaced, atomically, as a run's files are (files.py)."""
    from ..core.errors import SmtuiError
    from .files import atomic_write_json

    path = path or settings_path()
    current = load(path)
    if current.warnings and path.exists():
        return f"{path} was left as it is (it cannot be read as settings)"
    target = path.resolve() if path.is_symlink() else path
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(target, {**current.raw, "theme": theme})
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    except SmtuiError as exc:
        return str(exc)
    return None
