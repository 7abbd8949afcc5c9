"""A critique session: the loop (:mod:`.session`) and its wiring from a config (:mod:`.run`)."""
