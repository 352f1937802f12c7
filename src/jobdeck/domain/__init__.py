"""Pure job semantics: no I/O."""
