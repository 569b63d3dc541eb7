"""The `prodigy` command line: argument parsing and exit codes; no compiler or runtime logic."""
