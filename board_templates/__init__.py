"""Jinja templates of the board flow (Vivado/Vitis Tcl, project Makefile, board script).

Package data of ``bnnc.board_templates``; rendered by :mod:`bnnc.backends.board`.
"""
