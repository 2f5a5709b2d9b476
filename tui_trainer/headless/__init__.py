"""`smtui --no-ui` and `smtui sweep`: the loop's events as lines on a console and in log.txt,
for SSH sessions, tmux, batch jobs and CI."""
