"""Step commands, one module each: the model class, its reader, its lowering and its `SPEC`.

`registry.py` lists them in one literal tuple; every per-command table of the compiler (the
command keys, the reader's dispatch, the published roots, the options a command honours)
derives from it. This package root imports nothing, so a command module can be imported on
its own by the normalizer's helpers without pulling in the whole registry.
"""
