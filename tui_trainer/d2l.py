"""The book's `d2l` module for chapters 3 to 7 (d2l r0.17, PyTorch), as a drop-in:
`from tui_trainer import d2l`.

Code written for the book (`from d2l import torch as d2l`) runs unchanged with this import line,
with the book's names, signatures and semantics, and without Jupyter:

- `load_data_fashion_mnist(batch_size, resize=None)` reads smtui's offline sources (the full
  data where found, else the embedded subset, with a one-line warning) into tensors: the book's
  shapes and dtypes, shuffled train and ordered test, no worker processes unless asked.
- `train_ch3` and `train_ch6` train the learner's own net through smtui's loop (`train.fit`,
  the same as `smtui --no-ui`): live curves, predictions and pause/stop keys when the standard
  streams are a terminal, one line per epoch otherwise; `out=` records a run directory for
  `smtui view` and `compare`. Stopping (a key, Ctrl+C) raises `KeyboardInterrupt` once the
  terminal is back; the book's asserts raise AssertionError saying which threshold failed.
  `train_ch6` has the book's Xavier initialisation, SGD, cross-entropy and two closing lines.
- A mistake the script does not catch ends in one line naming the learner's file and line
  (mistakes.py); SMTUI_DEBUG=1 shows the whole traceback.
- The book's figures in the terminal (figures.py): `Animator` (cut at the figure's limits,
  log axes), `plot`, `set_axes`, `set_figsize`, `plt`, `show_images` and `predict_ch3`.
- `evaluate_loss`, `evaluate_accuracy_gpu`, `try_gpu`, `try_all_gpus`, `corr2d`, the data hub
  (`download` says where to put a file when there is no network), and the aliases of the
  book's `d2l/torch.py` (`d2l.matmul`, `d2l.exp`, `d2l.reshape`, `d2l.reduce_sum`, ...).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch
from torch.utils import data as torch_data

from .core import data as data_mod
from .core.data import get_fashion_mnist_labels  # noqa: F401  (the book's name)
from .core.metrics import Accumulator, accuracy  # noqa: F401  (the book's names)
from .core import metrics
from .core.errors import SmtuiError
from .learner import figures, notebook
from .learner.notebook import set_axes  # noqa: F401  (the book's name)
from .core.mistakes import in_learners_words, install_hooks
from .loop.cpu_threads import fitting_workers
from .loop.train import train_epoch
from .core.updaters import sgd  # noqa: F401  (the book's name)

install_hooks()   # a mistake the script does not catch ends in one line (mistakes.py)

# ---------------------------------------------------------------- the aliases of d2l/torch.py
ones, zeros, tensor, arange = torch.ones, torch.zeros, torch.tensor, torch.arange
meshgrid, sin, sinh, cos, cosh = torch.meshgrid, torch.sin, torch.sinh, torch.cos, torch.cosh
tanh, linspace, exp, log, normal = torch.tanh, torch.linspace, torch.exp, torch.log, torch.normal
rand, randn, matmul, int32, int64 = torch.rand, torch.randn, torch.matmul, torch.int32, torch.int64
float32, concat, stack, abs, eye = torch.float32, torch.cat, torch.stack, torch.abs, torch.eye
numpy = lambda x, *args, **kwargs: x.detach().numpy(*args, **kwargs)  # noqa: E731
size = lambda x, *args, **kwargs: x.numel(*args, **kwargs)  # noqa: E731
reshape = lambda x, *args, **kwargs: x.reshape(*args, **kwargs)  # noqa: E731
to = lambda x, *args, **kwargs: x.to(*args, **kwargs)  # noqa: E731
reduce_sum = lambda x, *args, **kwargs: x.sum(*args, **kwargs)  # noqa: E731
argmax = lambda x, *args, **kwargs: x.argmax(*args, **kwargs)  # noqa: E731
astype = lambda x, *args, **kwargs: x.type(*args, **kwargs)  # noqa: E731
transpose = lambda x, *args, **kwargs: x.t(*args, **kwargs)  # noqa: E731
reduce_mean = lambda x, *args, **kwargs: x.mean(*args, **kwargs)  # noqa: E731


# ------------------------------------------------- the book's figures (figures.py, notebook.py)
# In a notebook with matplotlib, the book's own pyplot, drawn inline; else the terminal's.
MATPLOTLIB = notebook.pyplot()
plt = MATPLOTLIB if MATPLOTLIB is not None else figures.plt


def use_svg_display() -> None:
    """The book's notebook setting: SVG figures in a notebook; nothing to do in a terminal."""
    notebook.use_svg_display()


def set_figsize(figsize=(3.5, 2.5)) -> None:
    """The book's figure size, kept in `plt.rcParams`: the terminal's drawings take the
    terminal's width."""
    use_svg_display()
    plt.rcParams["figure.figsize"] = figsize


def plot(X, Y=None, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
         xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), figsize=(3.5, 2.5),
         axes=None):
    """The book's `plot` (4.1 draws relu, sigmoid, tanh and their gradients with it), drawn in
    the terminal when it returns, as a notebook's cell shows it; on `axes` given, when the
    program shows that figure."""
    if legend is None:
        legend = []
    set_figsize(figsize)
    given = axes is not None
    if not given:   # matplotlib's current axes, as the book's; the terminal's, a new figure
        axes = plt.gca() if MATPLOTLIB is not None else plt.figure().axes[0]

    def has_one_axis(X):
        return (hasattr(X, "ndim") and X.ndim == 1 or isinstance(X, list)
                and not hasattr(X[0], "__len__"))

    if has_one_axis(X):
        X = [X]
    if Y is None:
        X, Y = [[]] * len(X), X
    elif has_one_axis(Y):
        Y = [Y]
    if len(X) != len(Y):
        X = X * len(Y)
    axes.cla()
    for x, y, fmt in zip(X, Y, fmts):
        if len(x):
            axes.plot(x, y, fmt)
        else:
            axes.plot(y, fmt)
    set_axes(axes, xlabel, ylabel, xlim, ylim, xscale, yscale, legend)
    if not given:
        plt.show()


# ---------------------------------------------------------------- 4.10: the data hub
DATA_HUB: dict[str, tuple[str, str]] = {}
DATA_URL = "http://d2l-data.s3-accelerate.amazonaws.com/"
DATA_HUB["kaggle_house_train"] = (DATA_URL + "kaggle_house_pred_train.csv",
                                  "585e9cc93e70b39160e7921475f9bcd7d31219ce")
DATA_HUB["kaggle_house_test"] = (DATA_URL + "kaggle_house_pred_test.csv",
                                 "fa19780a7b011d9b009e8bff8e99922a8ee2eb90")


@in_learners_words
def download(name, cache_dir=os.path.join("..", "data")):
    """The book's download of a DATA_HUB file into `cache_dir` (a file already there with the
    right SHA-1 is used as it is). Without a network: one line saying where to put the file."""
    import hashlib
    import urllib.request

    assert name in DATA_HUB, f"{name} does not exist in {DATA_HUB}."
    url, sha1_hash = DATA_HUB[name]
    os.makedirs(cache_dir, exist_ok=True)
    fname = os.path.join(cache_dir, url.split("/")[-1])
    if os.path.exists(fname):
        sha1 = hashlib.sha1()
        with open(fname, "rb") as f:
            for block in iter(lambda: f.read(1048576), b""):
                sha1.update(block)
        if sha1.hexdigest() == sha1_hash:
            return fname
    print(f"Downloading {fname} from {url}...")
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            content = response.read()
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SmtuiError(f"download {name!r}: {url} could not be fetched ({reason}): no "
                         f"network here? Fetch it where there is one and put it at "
                         f"{os.path.abspath(fname)}") from None
    with open(fname, "wb") as f:
        f.write(content)
    return fname


def download_extract(name, folder=None):
    """The book's download, then extraction of a zip or tar file beside it."""
    import tarfile
    import zipfile
    fname = download(name)
    base_dir = os.path.dirname(fname)
    data_dir, ext = os.path.splitext(fname)
    if ext == ".zip":
        fp = zipfile.ZipFile(fname, "r")
    elif ext in (".tar", ".gz"):
        fp = tarfile.open(fname, "r")
    else:
        assert False, "Only zip/tar files can be extracted."
    fp.extractall(base_dir)
    return os.path.join(base_dir, folder) if folder else data_dir


def download_all():
    """Every file of DATA_HUB."""
    for name in DATA_HUB:
        download(name)


def cpu() -> torch.device:
    """The CPU device."""
    return torch.device("cpu")


def gpu(i: int = 0) -> torch.device:
    """The i-th GPU."""
    return torch.device(f"cuda:{i}")


def num_gpus() -> int:
    """How many GPUs there are."""
    return torch.cuda.device_count()


def try_gpu(i: int = 0) -> torch.device:
    """GPU i when it exists, else the CPU."""
    return gpu(i) if num_gpus() >= i + 1 else cpu()


class Timer:
    """The book's timer: start, stop (returns the seconds), avg, sum, cumsum."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.time()

    def stop(self) -> float:
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list:
        return np.array(self.times).cumsum().tolist()


# ---------------------------------------------------------------- 3.1-3.3: linear regression
def synthetic_data(w, b, num_examples):
    """The book's y = Xw + b + noise."""
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def linreg(X, w, b):
    """The book's linear regression model."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat, y):
    """The book's squared loss."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def load_array(data_arrays, batch_size, is_train=True):
    """The book's PyTorch data iterator."""
    dataset = torch_data.TensorDataset(*data_arrays)
    return torch_data.DataLoader(dataset, batch_size, shuffle=is_train)


# ---------------------------------------------------------------- 3.5: the data
def get_dataloader_workers() -> int:
    """The book's number of DataLoader worker processes."""
    return 4


_DATA: dict[str | None, data_mod.FashionMNIST] = {}   # read once per data folder


def _fashion_mnist() -> data_mod.FashionMNIST:
    """The data, read once per process and data folder (SMTUI_DATA_DIR, else the usual
    places): a program that points SMTUI_DATA_DIR elsewhere gets that folder's data."""
    where = os.environ.get("SMTUI_DATA_DIR")
    if where not in _DATA:
        try:
            fashion = data_mod.load_fashion_mnist(where, "auto")
        except SmtuiError as exc:   # in a script's words: the folder came from the variable
            raise SmtuiError(str(exc).replace("--data-dir", "SMTUI_DATA_DIR")) from None
        if fashion.subset:
            _say("d2l: the full Fashion-MNIST was not found: using smtui's embedded subset "
                 "(5,000 train / 1,000 test images); accuracies differ from the book's")
        _DATA[where] = fashion
    return _DATA[where]


@in_learners_words
def load_data_fashion_mnist(batch_size: int, resize: int | None = None, *,
                            num_workers: int = 0):
    """The book's (train_iter, test_iter): X float32 (B, 1, 28, 28) in [0, 1] (or resized), y
    int64; train shuffled by torch's global RNG each epoch, test in order.

    From smtui's offline sources rather than a download; the batches are cut from tensors in
    memory, which is many times faster than the book's DataLoader. `num_workers` > 0 asks for
    the book's torchvision DataLoader with that many worker processes instead (at most the
    CPUs this process may use).
    """
    fashion = _fashion_mnist()
    if num_workers:   # at most the CPUs this process may use (cpu_threads.fitting_workers)
        return data_mod.make_loaders(fashion, batch_size, loader="book", resize=resize,
                                     num_workers=fitting_workers(num_workers))
    train_iter, test_iter = data_mod.make_loaders(fashion, batch_size, resize=resize)
    train_iter.fashion = test_iter.fashion = fashion   # for train_ch3's views
    return train_iter, test_iter


# ---------------------------------------------------------------- 3.6: training
@in_learners_words
def evaluate_accuracy(net, data_iter) -> float:
    """The book's accuracy of `net` over `data_iter`."""
    return metrics.evaluate_accuracy(net, data_iter)


@in_learners_words
def train_epoch_ch3(net, train_iter, loss, updater):
    """The book's one epoch: returns (train loss, train accuracy) per example."""
    return train_epoch(net, train_iter, loss, updater)


@in_learners_words
def train_ch3(net, train_iter, test_iter, loss, num_epochs, updater, *, out: str | None = None):
    """The book's `train_ch3`, through smtui's loop: live on a terminal, one line per epoch
    otherwise, then the book's asserts. `out`: a folder to record a run directory in."""
    from .learner.script import train_script

    history = train_script(net, train_iter, test_iter, loss, num_epochs, updater, out=out)
    train_loss, train_acc, test_acc = (history[-1]["train_loss"], history[-1]["train_acc"],
                                       history[-1]["test_acc"])
    # The book's three asserts, each saying which threshold failed and by how much.
    _check(train_loss < 0.5, f"train_loss {train_loss:.4f} is not below 0.5 "
                             f"(by {train_loss - 0.5:.4f})")
    _check(0.7 < train_acc <= 1, f"train_acc {train_acc:.4f} is not above 0.7 "
                                 f"(by {0.7 - train_acc:.4f})")
    _check(0.7 < test_acc <= 1, f"test_acc {test_acc:.4f} is not above 0.7 "
                                f"(by {0.7 - test_acc:.4f})")


@in_learners_words
def evaluate_loss(net, data_iter, loss) -> float:
    """The book's (4.4) mean loss of `net` over `data_iter`."""
    metric = Accumulator(2)  # sum of losses, number of examples
    for X, y in data_iter:
        out = net(X)
        y = y.reshape(out.shape)
        l = loss(out, y)
        metric.add(float(l.sum()), l.numel())
    return metric[0] / metric[1]


# ---------------------------------------------------------------- 6: convolutions, on a GPU
def try_all_gpus() -> list[torch.device]:
    """Every GPU, or the CPU when there is none."""
    devices = [torch.device(f"cuda:{i}") for i in range(torch.cuda.device_count())]
    return devices if devices else [torch.device("cpu")]


def corr2d(X, K):
    """The book's two-dimensional cross-correlation (6.2)."""
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


@in_learners_words
def evaluate_accuracy_gpu(net, data_iter, device=None) -> float:
    """The book's accuracy of `net` over `data_iter`, on `net`'s device unless given."""
    if isinstance(net, torch.nn.Module):
        net.eval()
        if not device:
            device = next(iter(net.parameters())).device
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            X = [x.to(device) for x in X] if isinstance(X, list) else X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


@in_learners_words
def train_ch6(net, train_iter, test_iter, num_epochs, lr, device, *, out: str | None = None):
    """The book's `train_ch6`, through smtui's loop as `train_ch3` is: Xavier-initialised Linear
    and Conv2d weights, torch's SGD at `lr`, the mean cross-entropy, on `device`; live on a
    terminal, one line per epoch otherwise; then the book's two closing lines. Its examples/sec
    count the training batches' time, as the book's timer does (the test set's evaluation
    left out)."""
    from .learner.script import train_script

    def init_weights(m):
        if type(m) in (torch.nn.Linear, torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    print("training on", device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = torch.nn.CrossEntropyLoss(reduction="none")   # its mean is the book's loss
    # The data kept on the device when it fits: the drop-in's loaders, copied there once.
    on_device = [it.on(torch.device(device)) if hasattr(it, "on") else it
                 for it in (train_iter, test_iter)]
    train_on, test_on = on_device
    history = train_script(net, train_on, test_on, loss, num_epochs, optimizer, out=out,
                           trained_by="d2l.train_ch6")
    last = history[-1]
    print(f"loss {last['train_loss']:.3f}, train acc {last['train_acc']:.3f}, "
          f"test acc {last['test_acc']:.3f}")
    examples = getattr(train_iter, "num_examples", None) or len(train_iter.dataset)
    seconds = sum(row["seconds"] - row.get("eval_seconds", 0.0) for row in history)
    print(f"{examples * len(history) / seconds:.1f} examples/sec on {str(device)}")


def _check(ok: bool, text: str) -> None:
    """One of the book's asserts: an AssertionError, as the book raises, that says why; none
    under `python -O`, which removes the book's `assert` statements."""
    if __debug__ and not ok:
        raise AssertionError(f"the book's check failed: {text}")


def _say(text: str) -> None:
    from .core.console import SafeStream
    SafeStream(sys.stderr).write(text + "\n")


@in_learners_words
def predict_ch3(net, test_iter, n: int = 6):
    """The book's predictions: the first n test images, titled true / predicted."""
    for X, y in test_iter:
        break
    trues = get_fashion_mnist_labels(y)
    with torch.no_grad():
        preds = get_fashion_mnist_labels(net(X).argmax(axis=1))
    titles = [true + "\n" + pred for true, pred in zip(trues, preds)]
    show_images(X[0:n].reshape((n, X.shape[-2], X.shape[-1])), 1, n, titles=titles[0:n])


# ---------------------------------------------------------------- drawing in the terminal
def show_images(imgs, num_rows: int, num_cols: int, titles=None, scale: float = 1.5):
    """The book's grid of images, drawn in the terminal with half blocks (two pixel rows per
    character), each titled below; without a terminal, the titles alone."""
    from .learner.drawing import image_grid

    if MATPLOTLIB is not None:
        return notebook.show_images(MATPLOTLIB, imgs, num_rows, num_cols, titles, scale)
    images = [torch.as_tensor(np.asarray(img.detach().cpu() if torch.is_tensor(img) else img))
              for img in imgs][: num_rows * num_cols]
    image_grid(images, num_cols, list(titles) if titles is not None else None)


class Animator:
    """The book's Animator: `add(x, y)` appends points and draws every curve again: in the
    terminal (plotext), in place below what the program prints; in a notebook, one output of
    the cell updated in place (matplotlib's figure where installed); elsewhere, one line per
    `add`."""

    def __init__(self, xlabel=None, ylabel=None, legend=None, xlim=None, ylim=None,
                 xscale="linear", yscale="linear", fmts=("-", "m--", "g-.", "r:"), nrows=1,
                 ncols=1, figsize=(3.5, 2.5)) -> None:
        from .learner.drawing import animated_figure

        self.legend = list(legend) if legend else []
        self.X: list[list[float]] | None = None
        self.Y: list[list[float]] | None = None
        self.plot = animated_figure(xlabel, ylabel, legend, xlim, ylim, xscale, yscale, fmts,
                                    nrows, ncols, figsize)

    def add(self, x, y) -> None:
        """Add one point to each curve (the book's semantics: y a number or one per curve)."""
        if not hasattr(y, "__len__"):
            y = [y]
        n = len(y)
        if not hasattr(x, "__len__"):
            x = [x] * n
        if not self.X:
            self.X = [[] for _ in range(n)]
        if not self.Y:
            self.Y = [[] for _ in range(n)]
        added = set()
        for i, (a, b) in enumerate(zip(x, y)):
            if a is not None and b is not None:
                self.X[i].append(float(a))
                self.Y[i].append(float(b))
                added.add(i)
        self.plot.draw(self.X, self.Y, self.legend, added)

