"""The prodigy runtime: loads a Plan and executes it with checkpoints.

It never imports the compiler: a plan runs without its YAML.
"""
