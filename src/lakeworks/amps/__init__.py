"""AMPs (Applied ML Prototypes): projects that set themselves up from ``.project-metadata.yaml``.

``spec`` parses and validates the file (compat spec §10.1-10.3); ``runner`` runs its tasks in
order, one step per scheduler tick, with §10.4's stop/retry/skip semantics.
"""
