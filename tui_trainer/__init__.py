"""smtui: softmax regression on Fashion-MNIST (d2l chapter 3) as a terminal trainer.

The package is laid out by layer, each standing only on those before it (tests/test_structure.py
checks the directions): `core` (config, events, data, models, metrics), `store` and `labs`,
`loop` (training), `headless` (`--no-ui`), `ui` (the Textual app), `learner` (behind the
drop-in `d2l`), then `cli` (the `smtui` command) and `d2l` (`from tui_trainer import d2l`).
"""

__version__ = "0.1.0"
