"""The prodigy compiler: YAML workflow -> validated model -> DAG -> Plan.

The public surface is two modules: `pipeline` (`validate_file`, `compile_file`) and `emit`
(plan pictures). Everything else is a stage of the pipeline, internal to it. Nothing is
imported here, so importing one stage does not load the others.
"""

__all__ = ["emit", "pipeline"]
