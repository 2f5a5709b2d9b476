"""Fashion-MNIST's class names, in a module light enough for the TUI's first paint (no torch)."""

TEXT_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
