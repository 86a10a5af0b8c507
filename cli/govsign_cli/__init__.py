"""The ``govsign`` command line: a thin click front end to the library."""
