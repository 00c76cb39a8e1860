"""Compare: turn stored records (and their per-sample files) into comparisons between rows — paired statistics
on the same items, cost on one scale. Pure functions of stored data; the report calls them."""
