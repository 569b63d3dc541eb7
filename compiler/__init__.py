"""The prodigy compiler: YAML workflow -> validated model -> DAG -> Plan."""
