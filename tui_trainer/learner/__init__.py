"""What stands behind the drop-in `d2l` module: a learner's `train_ch3` trained by smtui's loop
(script.py), the book's figures drawn on a terminal, and the book's 3.6 program."""
