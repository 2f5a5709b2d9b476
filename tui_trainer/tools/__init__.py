"""smtui's own programs over the whole package: the book's 3.6 program written through the
drop-in (the script-mode screenshot's and a benchmark's), and the README's screenshots."""
