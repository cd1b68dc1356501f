"""bnnc host runtime: the code that runs on the board (numpy and pynq only)."""
