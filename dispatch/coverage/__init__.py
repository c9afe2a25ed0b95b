"""Coverage of the city between calls: demand zones, standby posts, the coverage a
dispatch decision loses, and move-up to posts (DESIGN.md §4 "Coverage")."""
