"""Emergency calls and the assignment of units to them."""
