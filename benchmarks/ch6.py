"""`train_ch6` side by side, in one process: smtui's `d2l.train_ch6`, the book's `train_ch6` as
written (d2l r0.17, its Animator left out) and a hand-written loop with the data on the device;
6.6's LeNet at lr 0.9, batch 256, on the full Fashion-MNIST.

    python -m benchmarks.ch6 [--device cpu|cuda] [--epochs N] [--rounds R] [--resnet]

Each round trains a fresh LeNet (the same seed) with each of the three, in turn; the rows are
the medians of the rounds, the ratios the medians of the ratios within a round. Examples/s count
the training batches' time, as the book's timer does. `--resnet` also trains 7.6's ResNet at
resize 96 through `d2l.train_ch6` (one epoch: what chapter 7 asks of a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import torch
from torch import nn

from tui_trainer import d2l


def lenet() -> nn.Module:
    """6.6's LeNet, as the book builds it."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def books_train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
    """The book's train_ch6 (d2l r0.17, `d2l/torch.py`) as written, its Animator left out."""
    def init_weights(m):
        if type(m) == nn.Linear or type(m) == nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    print('training on', device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    timer, num_batches = d2l.Timer(), len(train_iter)
    for epoch in range(num_epochs):
        metric = d2l.Accumulator(3)
        net.train()
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], d2l.accuracy(y_hat, y), X.shape[0])
            timer.stop()
            train_l = metric[0] / metric[2]
            train_acc = metric[1] / metric[2]
        test_acc = d2l.evaluate_accuracy_gpu(net, test_iter)
    print(f'loss {train_l:.3f}, train acc {train_acc:.3f}, '
          f'test acc {test_acc:.3f}')
    print(f'{metric[2] * num_epochs / timer.sum():.1f} examples/sec '
          f'on {str(device)}')


def hand_loop(net, fashion, num_epochs, lr, device) -> str:
    """What a learner writes with the data on the device: a permutation a epoch, the batches cut
    from it, the sums kept on the device and read once an epoch. Prints as the book does."""
    for m in net.modules():
        if type(m) in (nn.Linear, nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
    net.to(device)
    X_all = (fashion.train_images.float() / 255).unsqueeze(1).to(device)
    y_all = fashion.train_labels.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    seconds = 0.0
    for _ in range(num_epochs):
        sync(device)
        start = time.perf_counter()
        sums = torch.zeros(2, device=device)
        order = torch.randperm(len(y_all), device=device)
        for i in range(0, len(order), 256):
            idx = order[i:i + 256]
            X, y = X_all[idx], y_all[idx]
            optimizer.zero_grad()
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                sums += torch.stack([l * len(y), (y_hat.argmax(1) == y).sum()])
        train_l, train_acc = (sums / len(y_all)).tolist()
        seconds += time.perf_counter() - start
    print(f"loss {train_l:.3f}, train acc {train_acc:.3f}")
    print(f"{len(y_all) * num_epochs / seconds:.1f} examples/sec on {device}")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate_of(run) -> tuple[float, str]:
    """(examples/sec, the closing lines) of a run that prints the book's closing lines."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run()
    lines = out.getvalue().strip().splitlines()
    return float(lines[-1].split()[0]), " | ".join(lines[-2:])


def resnet_96(device: torch.device, epochs: int) -> None:
    """7.6's ResNet at resize 96 through d2l.train_ch6: what chapter 7 trains."""
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "examples" / "resnet_7_6.py"
    text = example.read_text().replace("lr, num_epochs, batch_size = 0.05, 10, 256",
                                       f"lr, num_epochs, batch_size = 0.05, {epochs}, 256")
    start = time.perf_counter()
    exec(compile(text, str(example), "exec"), {"__name__": "__main__"})
    print(f"  ResNet-18 at resize 96, {epochs} epoch(s) on {device}: "
          f"{time.perf_counter() - start:.1f} s in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--resnet", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    fashion = d2l._fashion_mnist()
    print(f"train_ch6, LeNet, lr 0.9, batch 256, {args.epochs} epoch(s), {device}, "
          f"{fashion.name} data; {args.rounds} round(s)", flush=True)
    rates: dict[str, list[float]] = {"smtui": [], "book": [], "hand": []}
    for round_ in range(args.rounds):
        train_iter, test_iter = d2l.load_data_fashion_mnist(256)
        runs = {
            "smtui": lambda: d2l.train_ch6(lenet(), train_iter, test_iter, args.epochs, 0.9,
                                           device),
            "book": lambda: books_train_ch6(lenet(), train_iter, test_iter, args.epochs, 0.9,
                                            device),
            "hand": lambda: hand_loop(lenet(), fashion, args.epochs, 0.9, device),
        }
        for name, run in runs.items():
            torch.manual_seed(round_)
            rate, lines = rate_of(run)
            rates[name].append(rate)
            print(f"  round {round_ + 1} {name:<5} {rate:>10.1f} examples/s   {lines}",
                  flush=True)
    print(f"{'':2}{'loop':<28}{'examples/s':>12}")
    for name, label in (("smtui", "d2l.train_ch6 (smtui)"), ("book", "the book's train_ch6"),
                        ("hand", "hand loop, data on device")):
        print(f"  {label:<28}{statistics.median(rates[name]):>12.1f}")
    for other in ("book", "hand"):
        ratio = statistics.median(a / b for a, b in zip(rates["smtui"], rates[other]))
        print(f"  smtui / {other:<20}{ratio:>12.3f}")
    if args.resnet:
        resnet_96(device, 1)


if __name__ == "__main__":
    main()
