"""The reference source school (bronsysteem), sans-IO: the release rules of a dossier, the dossier file's own facts,
and synthetic dossiers for the test school's pupils.

Nothing here does I/O: the aanleverpunt service (``gateway.services.aanleverpunt``) fetches the pupil's record from
the store, asks the Traffic Center, calls ``beslis`` and stores what it decided.
"""

from .uitlevering import (Besluit, Controle, DossierRecord, Sessiecontrole, Uitlevering, Verzoek, beslis, mask,
                          verwijder_categorieen)

__all__ = ["Besluit", "Controle", "DossierRecord", "Sessiecontrole", "Uitlevering", "Verzoek", "beslis", "mask",
           "verwijder_categorieen"]
