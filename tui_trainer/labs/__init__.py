"""The notes' exercises, measured: the numerics of softmax, many classes, and the analysis
beyond accuracy (confusion, top-k, a reject option). They stand on `core` alone."""
