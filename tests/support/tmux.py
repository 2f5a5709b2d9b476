"""A real terminal for the tests: a tmux session of its own, driven with send-keys and read
with capture-pane, as a person at a terminal would drive smtui."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest

from .waits import poll

tmux_only = pytest.mark.skipif(subprocess.run(["which", "tmux"], capture_output=True).returncode
                               != 0 and not os.environ.get("CI"), reason="tmux not installed")


class Tmux:
    """A detached tmux session running one command, on a tmux server of its own: tests that run
    at once (parallel workers) never share a server, so none can catch one exiting as another
    test ends its last session."""

    def __init__(self, command: str, width: int = 100, height: int = 30) -> None:
        self.name = f"smtui-test-{uuid.uuid4().hex[:8]}"
        self.tmux = ["tmux", "-L", self.name]
        # A clean environment, as a user's shell would give: under pytest's own variables the
        # app inside tmux was seen to miss window resizes.
        env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
               "LANG": "C.UTF-8"}
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", str(width),
                        "-y", str(height), command], check=True, env=env)

    def screen(self) -> str:
        r = subprocess.run([*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True,
                           text=True)
        return r.stdout

    def screen_with_styles(self) -> str:
        """The screen with its escape sequences (colours, backgrounds) as tmux has them."""
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-e", "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def resize(self, width: int, height: int) -> None:
        subprocess.run([*self.tmux, "resize-window", "-t", self.name, "-x", str(width), "-y",
                        str(height)], check=True)

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", self.name],
                              capture_output=True).returncode == 0

    def wait_for(self, *texts: str, timeout: float = 60.0) -> str:
        """The screen, once any of `texts` is on it."""
        return self.wait_screen(lambda screen: any(text in screen for text in texts),
                                f"{texts!r} appearing", timeout)

    def wait_screen(self, ok, what: str, timeout: float = 60.0) -> str:
        """The screen, once `ok(screen)` holds."""
        def screen_if_ok() -> str | None:
            screen = self.screen()
            return screen if ok(screen) else None
        return poll(screen_if_ok, timeout, lambda: f"{what} never happened; screen was:\n"
                    f"{self.screen()}", every=0.2)

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        """The screen, once `text` has left it."""
        return self.wait_screen(lambda screen: text not in screen, f"{text!r} leaving", timeout)

    def wait_focused(self, label: str, timeout: float = 30.0) -> None:
        """Until the form row `label` has the focus (its field drawn bold)."""
        def focused() -> bool:
            for line in self.screen_with_styles().splitlines():
                plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
                if plain.lstrip().startswith(label + "  ") and "\x1b[1m" in line:
                    return True
            return False
        poll(focused, timeout, lambda: f"the {label!r} field never got the focus", every=0.1)

    def kill(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
