"""How each node kind runs: one op per kind, registered in OPS."""
