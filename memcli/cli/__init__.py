"""The `mem` command line: parses arguments, calls the core, renders results."""

from .app import app, main

__all__ = ["app", "main"]
