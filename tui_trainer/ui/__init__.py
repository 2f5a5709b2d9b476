"""The Textual application: smtui without --no-ui."""
