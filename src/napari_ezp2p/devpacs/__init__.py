"""devpacs: the small local PACS behind ``ezp2p serve``, for trying things out.

``server`` runs it (pynetdicom handlers, start and stop); ``index`` holds what it
stores; ``worklist`` reads its worklist file; ``matching`` is the C-FIND matching
both query services share.
"""
