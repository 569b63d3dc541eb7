"""Lark grammars, shipped as package data (read through prodigy.compiler.resources)."""
