"""smtui: softmax regression on Fashion-MNIST (d2l chapter 3) as a terminal trainer.

The core modules (config, data, models, metrics, updaters, train, runs) never import textual;
the TUI lives in `tui_trainer.ui` and the headless driver in `tui_trainer.headless`.
"""

__version__ = "0.1.0"
