"""SVG screenshots of the app after a real run, for the README and the docs: `make screenshots`.

    python -m tui_trainer.tools.screenshots [OUT_DIR] [--epochs N]

Trains the book's model in the app (the same worker and loop as `smtui`), then saves the curves,
predictions, weights and Train tabs as SVG files, which Textual renders exactly as the terminal
shows them; then a learning-rate sweep from the form, and its curves.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from textual.widgets import Input

from ..core.config import TrainConfig
from ..ui.app import SmtuiApp


async def take(out_dir: Path, epochs: int = 10, size: tuple[int, int] = (110, 34)) -> list[Path]:
    """Run the app headlessly through a training run and save the screenshots."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as runs:
        app = SmtuiApp(TrainConfig(epochs=epochs, out=runs))
        async with app.run_test(size=size) as pilot:
            await pilot.press("s")
            while app.controller.state.running or app.controller.state.last_status == "idle":
                await pilot.pause(0.2)
            await pilot.pause(1.0)
            paths = []
            for tab, name in (("curves", "screenshot-curves.svg"),
                              ("predictions", "screenshot-predictions.svg"),
                              ("weights", "screenshot-weights.svg")):
                app.action_tab(tab)
                await pilot.pause(0.5)
                paths.append(Path(app.save_screenshot(name, str(out_dir))))
            await pilot.resize_terminal(160, 48)
            app.action_tab("train")
            await pilot.pause(0.8)
            app.redraw(force=True)
            await pilot.pause(0.5)
            paths.append(Path(app.save_screenshot("screenshot-train.svg", str(out_dir))))
            # A learning-rate sweep from the form: a curve per rate, named by it.
            await pilot.resize_terminal(*size)
            app.action_reset()
            app.query_one("#field-sweep", Input).value = "0.01, 0.03, 0.1, 0.3, 1"
            await pilot.pause(0.5)
            app.action_start()
            while app.controller.state.running:
                await pilot.pause(0.2)
            app.action_tab("curves")
            await pilot.pause(1.0)
            paths.append(Path(app.save_screenshot("screenshot-sweep.svg", str(out_dir))))
            return paths


def mlp_4_2_session():
    """4.2's MLP from scratch (examples/mlp_scratch_4_2.py) as `d2l.train_ch3` gets it."""
    import torch
    from torch import nn

    from .. import d2l
    from ..learner.script import session_for

    train_iter, test_iter = d2l.load_data_fashion_mnist(256)
    W1 = nn.Parameter(torch.randn(784, 256, requires_grad=True) * 0.01)
    b1 = nn.Parameter(torch.zeros(256, requires_grad=True))
    W2 = nn.Parameter(torch.randn(256, 10, requires_grad=True) * 0.01)
    b2 = nn.Parameter(torch.zeros(10, requires_grad=True))

    def net(X):
        H = torch.relu(X.reshape((-1, 784)) @ W1 + b1)
        return H @ W2 + b2
    session = session_for(net, train_iter, test_iter, nn.CrossEntropyLoss(reduction="none"),
                          10, torch.optim.SGD([W1, b1, W2, b2], lr=0.1), None)
    session.config = session.config.replace(model="mlp_scratch_4_2.py")
    return session


async def take_own(out_dir: Path, size: tuple[int, int] = (110, 34)) -> list[Path]:
    """The app as `d2l.train_ch3` opens it for a learner's own net: the book's scratch
    softmax (3.6), and 4.2's MLP."""
    from .book_3_6 import book_scratch_session

    session = book_scratch_session(20)
    session.config = session.config.replace(model="softmax_scratch.py")
    paths = [await _take_script(session, out_dir, "screenshot-own-code.svg", size)]
    paths.append(await _take_script(mlp_4_2_session(), out_dir, "screenshot-mlp-4-2.svg",
                                    size))
    return paths


async def _take_script(session, out_dir: Path, name: str, size: tuple[int, int]) -> Path:
    """A learner's session live in the app, saved after 8 epochs."""
    app = SmtuiApp(session.config, script=session)
    async with app.run_test(size=size) as pilot:
        while len(session.history) < 8:
            await pilot.pause(0.2)
        app.redraw(force=True)
        await pilot.pause(0.5)
        path = Path(app.save_screenshot(name, str(out_dir)))
        await pilot.press("x")
        while app.is_running and app.controller.state.running:
            await pilot.pause(0.2)
    return path


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--own"]
    target = Path(args[0]) if args else Path("assets")
    for path in asyncio.run(take_own(target) if "--own" in sys.argv else take(target)):
        print(f"wrote {path}")
