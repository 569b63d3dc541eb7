"""prodigy: compile AI coding workflows into explicit DAG plans and run them with checkpoints.

`prodigy.compiler` (YAML -> Plan), `prodigy.runtime` (Plan -> a checkpointed run) and
`prodigy.cli` (the command line) are its parts; each package's `__all__` names its public
modules.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
