"""joblint: a static analyzer for the background jobs and mailers of Rails apps."""

__version__ = "0.1.0"
