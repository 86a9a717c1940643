"""Headless command line: ``trackassist <command> ...``."""
