"""The only layer that parses arguments and writes to the terminal."""
