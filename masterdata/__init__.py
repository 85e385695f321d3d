"""Master data under change control: the change-control primitive (`masterdata.changes`),
its role rules, and the kinds of controlled data the GMP processes share."""
