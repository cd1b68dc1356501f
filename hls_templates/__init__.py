"""Static HLS kernel headers and the Jinja fragments that instantiate them (package data)."""
