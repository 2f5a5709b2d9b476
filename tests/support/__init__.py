"""What the test modules share, by role: waits on conditions (waits), child processes (procs),
small IDX data (idx), the app under Pilot (app), run directories and the CLI (runs), and a real
terminal (tmux). Fixtures are in tests/conftest.py."""
