"""The checkpoint toolbox: ``python -m weights_tools <command> --help``."""
