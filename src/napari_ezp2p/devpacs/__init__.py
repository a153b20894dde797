"""devpacs: the small local PACS behind ``ezp2p serve``, for trying things out.

``server`` runs it (pynetdicom handlers, start and stop); ``entity`` is its AE (what it
offers, to whom, its limits); ``guard`` bounds what one connection can make it read;
``index`` holds what it stores; ``retrieve`` takes it back out (C-GET, C-MOVE, Patient
Root's PATIENT level); ``worklist`` reads its worklist file; ``matching`` is the C-FIND
matching both query services share; ``status`` the statuses it answers with.
"""
