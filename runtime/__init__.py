"""The prodigy runtime: loads a Plan and executes it with checkpoints.

It never imports the compiler: a plan runs without its YAML. The public surface is the modules
listed in `__all__`: `plan` (`loads`, `Plan`), `run` (`execute`, `RunOptions`), `store` (the
state dir and checkpoint store), `events` and `report` (what a run tells), `diagnostics` and
`errors`. Nothing is imported here: the spawner process loads this package and must start on
the standard library alone.
"""

__all__ = ["diagnostics", "errors", "events", "plan", "report", "run", "store"]
