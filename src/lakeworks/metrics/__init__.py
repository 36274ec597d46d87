"""The model metrics store (DESIGN §6, compat §4): the batched writer and the read queries."""
