"""The book's from-scratch softmax regression (3.6) as a learner writes it, through the drop-in
`d2l`: the program behind the README's screenshot of script mode and the benchmark of a
learner's code trained live.
"""

from __future__ import annotations

import torch

from .. import d2l
from ..learner.script import session_for
from ..loop.train import Session


def book_scratch_session(epochs: int, batch_size: int = 256, seed: int = 1) -> Session:
    """The book's from-scratch softmax regression as a learner writes it (their own W and b,
    softmax, cross_entropy and sgd updater), prepared as `d2l.train_ch3` prepares it: what the
    README's screenshot and the benchmark of the live view train."""
    torch.manual_seed(seed)
    W = torch.normal(0, 0.01, size=(784, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        X_exp = torch.exp(torch.matmul(X.reshape((-1, W.shape[0])), W) + b)
        return X_exp / X_exp.sum(1, keepdim=True)

    def cross_entropy(y_hat, y):
        return - torch.log(y_hat[range(len(y_hat)), y])

    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    return session_for(net, train_iter, test_iter, cross_entropy, epochs,
                       lambda n: d2l.sgd([W, b], 0.1, n), None)
