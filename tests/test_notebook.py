"""The drop-in in a Jupyter notebook, run by a real kernel (nbclient, ipykernel): the book's
figures are outputs of their cells (matplotlib's where installed, text where not), train_ch3's
figure is one output updated each epoch, and a mistake names the cell as IPython does."""

from __future__ import annotations

import textwrap

import pytest

from tests.support.learner import linear_learner

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

CELLS = [
    """
    import os, sys
    os.environ["SMTUI_DATA_DIR"] = {data}
    if {text_only}:
        sys.modules["matplotlib"] = None   # a notebook without matplotlib
    import torch
    from tui_trainer import d2l
    """,
    """
    x = torch.arange(-8.0, 8.0, 0.1)
    d2l.plot(x, torch.relu(x), 'x', 'relu(x)', figsize=(5, 2.5))
    """,
    """
    train_iter, test_iter = d2l.load_data_fashion_mnist(18)
    X, y = next(iter(train_iter))
    d2l.show_images(X.reshape(18, 28, 28), 2, 9, titles=d2l.get_fashion_mnist_labels(y));
    """,
    """
    animator = d2l.Animator(xlabel='epoch', xlim=[1, 3], legend=['loss'])
    for epoch in range(3):
        print('PRINTED epoch', epoch + 1)
        animator.add(epoch + 1, 1 / (epoch + 1))
    """,
    linear_learner("d2l.load_data_fashion_mnist(16)", seed=True, imports=False)
    + textwrap.dedent("""
    try:
        d2l.train_ch3(net, train_iter, test_iter, loss, 3, lambda n: d2l.sgd([W, b], 0.1, n))
    except AssertionError as exc:   # the book's closing checks, on data this small
        print('CHECKED', exc)
    """),
    """
    def bad_net(X):
        return torch.matmul(X.reshape((-1, 784)), W[:5]) + b
    d2l.train_ch3(bad_net, train_iter, test_iter, loss, 1, lambda n: d2l.sgd([W, b], 0.1, n))
    """,
]


def run_notebook(folder, data, text_only: bool):
    """The cells above, executed in a fresh kernel; returns the executed notebook."""
    cells = [nbformat.v4.new_code_cell(textwrap.dedent(c.replace("{data}", repr(str(data)))
                                                        .replace("{text_only}", repr(text_only)))
                                       .strip()) for c in CELLS]
    notebook = nbformat.v4.new_notebook(cells=cells)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     allow_errors=True,
                                     resources={"metadata": {"path": str(folder)}})
    client.execute()
    return notebook


def figures(cell, kind: str) -> list[str]:
    """The cell's outputs of MIME type `kind`."""
    return [out["data"][kind] for out in cell.outputs
            if out.get("output_type") in ("display_data", "execute_result")
            and kind in out.get("data", {})]


def printed(cell) -> str:
    return "".join(out.get("text", "") for out in cell.outputs
                   if out.get("output_type") == "stream")


def errors(cell) -> list:
    return [out for out in cell.outputs if out.get("output_type") == "error"]


BRAILLE = tuple(chr(c) for c in range(0x2801, 0x2900))


def has_braille(text: str) -> bool:
    return any(ch in text for ch in BRAILLE)


@pytest.mark.process
def test_in_a_notebook_with_matplotlib_the_books_figures_are_drawn_inline(small_data_dir,
                                                                          tmp_path):
    notebook = run_notebook(tmp_path, small_data_dir, text_only=False)
    setup, plot, images, animator, train, mistake = notebook.cells
    assert not errors(setup), setup.outputs
    for cell in (plot, images, animator, train):
        assert not errors(cell), cell.outputs
        assert len(figures(cell, "image/svg+xml")) == 1, cell.outputs   # one figure each
    assert "<svg" in figures(plot, "image/svg+xml")[0]
    # the prints beside the Animator stay: its figure is one output, updated in place
    assert printed(animator).splitlines() == [f"PRINTED epoch {k}" for k in (1, 2, 3)]
    # train_ch3's figure has the book's three curves (an SVG names each legend entry)
    svg = figures(train, "image/svg+xml")[0]
    assert all(name in svg for name in ("train loss", "train acc", "test acc")), svg[:300]
    (error,) = errors(mistake)
    where = f"Cell In[{mistake.execution_count}], line 2, in bad_net"
    assert where in error["evalue"], error["evalue"]


@pytest.mark.process
def test_in_a_notebook_without_matplotlib_the_figures_are_text_outputs(small_data_dir,
                                                                       tmp_path):
    notebook = run_notebook(tmp_path, small_data_dir, text_only=True)
    setup, plot, images, animator, train, mistake = notebook.cells
    assert not errors(setup), setup.outputs
    assert not figures(plot, "image/svg+xml") and not figures(plot, "image/png")
    (drawn,) = figures(plot, "text/plain")
    assert has_braille(drawn) and "relu(x)" in drawn
    html = "".join(figures(images, "text/html"))
    assert "▀" in html, images.outputs   # the images, in half blocks, titled
    assert any(label in html for label in ("t-shirt", "trouser", "pullover", "dress", "coat",
                                           "sandal", "shirt", "sneaker", "bag", "boot")), html
    (curve,) = figures(animator, "text/plain")
    assert has_braille(curve) and "loss" in curve
    assert printed(animator).splitlines() == [f"PRINTED epoch {k}" for k in (1, 2, 3)]
    (epochs,) = figures(train, "text/plain")   # (a curve wholly outside ylim has no legend)
    assert "train loss" in epochs and "train acc" in epochs and has_braille(epochs)
    assert "\x1b[" not in epochs   # no colour codes in a cell's text
    (error,) = errors(mistake)
    assert f"Cell In[{mistake.execution_count}], line 2, in bad_net" in error["evalue"]
