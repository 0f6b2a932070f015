"""The `zaomo` command: thin Typer commands that parse options and call the stage functions."""
