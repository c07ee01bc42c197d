"""One module per ``kboot`` subcommand (see kboot.cli.main)."""
