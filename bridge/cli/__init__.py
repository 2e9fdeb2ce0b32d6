"""The `crbio` command line (typer): thin commands over the library."""
