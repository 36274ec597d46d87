"""The `lakeworks` command."""
