"""The book's figures through the drop-in: `d2l.plot`, `set_axes`, `set_figsize`, `d2l.plt`
(scatter, subplots and imshow), drawn in a terminal or summed up in a pipe; NO_COLOR's shades
and markers; the data hub without a network; and every name chapters 3-7 call on `d2l`."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch

from tests.support.procs import child_env, finish
from tui_trainer import d2l
from tui_trainer.learner import drawing
from tui_trainer.core.errors import SmtuiError

# Every name the PyTorch cells of chapters 3-7 (d2l r0.17) call on `d2l`, with a section that
# calls it: read from the book's sources, cell by cell.
BOOK_NAMES = {
    "Accumulator": "6.6", "Animator": "4.4", "Timer": "3.5", "abs": "6.4", "accuracy": "6.6",
    "arange": "6.5", "argmax": "3.6", "astype": "3.6", "concat": "6.5", "corr2d": "6.4",
    "evaluate_loss": "4.5", "exp": "3.6", "float32": "4.4",
    "get_fashion_mnist_labels": "3.6", "linreg": "4.5", "load_array": "4.4",
    "load_data_fashion_mnist": "3.6", "log": "3.6", "matmul": "3.2", "normal": "3.2",
    "numpy": "3.2", "ones": "6.2", "plot": "4.1", "plt": "3.2", "predict_ch3": "4.2",
    "reduce_sum": "3.6", "reshape": "3.6", "set_axes": "3.6", "set_figsize": "3.2",
    "sgd": "3.6", "show_images": "3.5", "size": "3.6", "squared_loss": "4.5", "stack": "6.4",
    "synthetic_data": "3.3", "tensor": "3.6", "train_ch3": "3.7", "train_ch6": "6.6",
    "train_epoch_ch3": "4.4", "transpose": "6.2", "try_gpu": "6.6", "use_svg_display": "3.5",
    "zeros": "6.2", "evaluate_accuracy_gpu": "6.6", "try_all_gpus": "5.6",
    "DATA_HUB": "4.10", "DATA_URL": "4.10", "download": "4.10",
}
PLT_CALLS = ("scatter", "subplots", "gca", "show", "plot", "imshow", "rcParams")


def test_every_name_chapters_3_to_7_call_on_d2l_is_there():
    missing = [name for name in BOOK_NAMES if not hasattr(d2l, name)]
    assert missing == []
    assert [name for name in PLT_CALLS if not hasattr(d2l.plt, name)] == []


def test_plot_of_4_1_draws_relu_and_its_gradient(terminal, capsys):
    x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
    y = torch.relu(x)
    d2l.plot(x.detach(), y.detach(), "x", "relu(x)", figsize=(5, 2.5))
    y.backward(torch.ones_like(x))
    d2l.plot(x.detach(), x.grad, "x", "grad of relu", figsize=(5, 2.5))
    out = drawing_text(capsys.readouterr().out)
    assert out.count("└") == 2                          # two figures, one after the other
    assert "relu(x)" in out and "grad of relu" in out
    ticks = out.split("└")[1].splitlines()[1].split()  # the first figure's x ticks
    assert ticks == ["-5", "0", "5"]
    assert d2l.plt.rcParams["figure.figsize"] == (5, 2.5)


def drawing_text(text: str) -> str:
    """The text of drawings without their colours."""
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_plot_in_a_pipe_is_a_line_per_figure(capsys):
    x = torch.arange(-2.0, 2.0, 0.5)
    d2l.plot(x, [x * x, 2 * x], "x", "f(x)", legend=["f", "g"])
    assert capsys.readouterr().out.splitlines() == [
        "figure: f: 8 points, x -2 to 1.5, y 0 to 4; g: 8 points, x -2 to 1.5, y -4 to 3"]


def test_a_log_plot_has_its_decades_and_every_curve(terminal, capsys):
    x = torch.arange(0.0, 5.0, 0.01)
    d2l.plot(x, [torch.exp(x), torch.exp(2 * x)], "x", "f", legend=["e^x", "e^2x"],
             yscale="log", ylim=[1e-1, 1e4])
    out = drawing_text(capsys.readouterr().out)
    labels = [line.split("┤")[0].strip() for line in out.splitlines() if "┤" in line]
    assert labels == ["1000", "10", "0.1"]   # decades (every other one of six), not 236.30
    assert "e^x" in out and "e^2x" in out


def test_plt_scatter_and_subplots_as_3_2_and_3_5_use_them(terminal, capsys):
    d2l.set_figsize()
    d2l.plt.scatter(np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 2.0]), 1)
    fig, axes = d2l.plt.subplots(2, 3, figsize=(4.5, 3))
    assert axes.shape == (2, 3) and d2l.plt.subplots(1, 3)[1].shape == (3,)
    for i, ax in enumerate(axes.flatten()):
        ax.imshow(torch.full((28, 28), i / 5).numpy())
        ax.axes.get_xaxis().set_visible(False)
        ax.set_title(f"t{i}")
    d2l.plt.show()
    out = drawing_text(capsys.readouterr().out)
    assert "┤" in out                                   # the scatter, drawn
    assert "t0" in out and "t5" in out and out.count("▀") == 6 * 28 * 14
    d2l.plt.show()
    assert capsys.readouterr().out == ""                # drawn once


def test_a_figure_prints_itself_as_ipythons_display_does(terminal):
    """The book's own Animator ends with `display.display(self.fig)`: outside a notebook,
    IPython prints the figure's repr, which is the figure drawn."""
    fig, ax = d2l.plt.subplots(1, 1)
    ax.plot([1, 2, 3], [0.5, 0.7, 0.8], "-")
    d2l.set_axes(ax, "epoch", None, [1, 3], [0.3, 0.9], "linear", "linear", ["acc"])
    text = drawing_text(repr(fig))
    assert "acc" in text and "epoch" in text and "└" in text
    d2l.plt.close()


def test_no_color_draws_shades_and_markers(monkeypatch, capsys):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setattr(drawing, "on_terminal", lambda: True)
    image = torch.linspace(0, 1, 28 * 28).reshape(28, 28)
    drawing.image_grid([image], 1, ["ramp"])
    out = capsys.readouterr().out
    assert "\x1b" not in out
    rows = out.splitlines()[:14]
    assert rows[0][0] == " " and rows[-1][0] == "█"    # dark at the top, light at the bottom
    assert set("".join(rows)) <= set(drawing.SHADES)
    text = drawing.Plot("x", "y").build([[0, 1], [0, 1]], [[0, 1], [1, 0]], ["a", "b"], 40)
    assert "\x1b" not in text and "•" in text and "⢕" in text


def test_download_without_a_network_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(*args, **kw):
        raise urllib.error.URLError("Name or service not known")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(SmtuiError) as info:
        d2l.download("kaggle_house_train", cache_dir=str(tmp_path))
    text = str(info.value)
    assert "\n" not in text and "no network here?" in text
    assert text.endswith(f"put it at {tmp_path / 'kaggle_house_pred_train.csv'}")
    content = b"Id,SalePrice\n1,100\n"
    monkeypatch.setitem(d2l.DATA_HUB, "tiny", (d2l.DATA_URL + "tiny.csv",
                                               hashlib.sha1(content).hexdigest()))
    (tmp_path / "tiny.csv").write_bytes(content)
    assert d2l.download("tiny", cache_dir=str(tmp_path)) == str(tmp_path / "tiny.csv")


@pytest.mark.process
@pytest.mark.skipif(importlib.util.find_spec("IPython") is not None,
                    reason="IPython is installed: the learner's own Animator works")
def test_the_books_own_animator_without_ipython_names_the_drop_ins(tmp_path):
    (tmp_path / "prog.py").write_text("from tui_trainer import d2l\n"
                                      "from IPython import display\n")
    proc = subprocess.Popen([sys.executable, "prog.py"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    _, err = finish(proc)
    assert proc.returncode == 1
    (line,) = err.strip().splitlines()
    assert line.startswith("prog.py, line 2: ModuleNotFoundError: No module named 'IPython'")
    assert "use d2l.Animator, d2l.plot" in line
