"""What the docs say of the app's keys and commands is what the app does: its table of keys
is F1's help, row for row, and every key's action is in the command palette (ctrl+p)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.core.config import TrainConfig
from tui_trainer.ui.app import SmtuiApp
from tui_trainer.ui.help import KEYS

KEYS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "tui.md"   # the table of keys


def readme_keys() -> list[tuple[str, str]]:
    """docs/tui.md's table of keys: (key, action) per row, without Markdown's backticks."""
    text = KEYS_PAGE.read_text()
    table = text[text.index("| key | action |"):].split("\n\n", 1)[0].splitlines()[2:]
    rows = []
    for line in table:
        key, action = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((key.replace("`", ""), action.replace("`", "")))
    return rows


def test_the_readmes_keys_are_f1s_help():
    assert readme_keys() == list(KEYS)


@pytest.mark.app
async def test_every_key_with_an_action_is_in_the_palette(tmp_path):
    """Idle, the palette offers the actions of s, n, m, o, v and help, naming their keys; with
    runs listed, pin and hide of the selected one (p, h); Screenshot once (Textual's and
    smtui's were both listed)."""
    from tests.support.runs import many_runs

    app = SmtuiApp(TrainConfig(device="cpu"), compare=many_runs(tmp_path, 3))
    async with app.run_test(size=(100, 30)):
        commands = list(app.get_system_commands(app.screen))
    helps = " ".join(c.help for c in commands)
    titles = [c.title for c in commands]
    for key in ("s", "n", "m", "o", "v", "? or F1"):
        assert f"({key})" in helps, key
    assert "(p in the Runs tab)" in helps and "(h in the Runs tab)" in helps
    assert titles.count("Screenshot") == 1
