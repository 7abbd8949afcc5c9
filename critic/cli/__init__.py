"""The ``critic`` command line: one module per command; rich lives only here."""
