"""Plan emitters: one table, EMITTERS, maps an --emit name to a function."""
