"""prodigy: compile AI coding workflows into explicit DAG plans and run them with checkpoints."""

__version__ = "0.1.0"
