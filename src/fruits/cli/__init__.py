"""The `fruits` command. The only layer that turns errors into exit codes."""
