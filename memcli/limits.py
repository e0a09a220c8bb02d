"""Sizes the core refuses past, in a module of their own: the CLI reads them without
importing the core (memcli.memory and what it pulls in cost `mem --help` 50 ms)."""

MAX_TEXT_BYTES = 2 * 1024 * 1024  # one memory's text, from an argument, a file or stdin
