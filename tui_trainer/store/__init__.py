"""What a run leaves on disk and how it is read back: the safe-file primitives, the run
directory and its checkpoint format, the catalog of runs, the watcher behind `smtui view`, the
settings file and the TensorBoard export. It stands on `core` alone."""
