"""The app's widgets, one panel a module: they draw what they are given and read no run state
themselves."""
