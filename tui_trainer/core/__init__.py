"""The core every other layer stands on: the one config, events and errors, the console's
rules, Fashion-MNIST, the book's models, metrics and updaters. It imports nothing of smtui's
outside this folder, never textual, and torch only where a module computes with it."""
