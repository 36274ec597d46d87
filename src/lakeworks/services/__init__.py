"""Domain rules: permissions, state transitions, audit. Every command takes a principal."""
