"""The prodigy runtime: loads a Plan and executes it with checkpoints. Never imports the compiler."""
