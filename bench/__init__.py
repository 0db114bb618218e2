"""`make bench`: hookstream's performance scenarios, their ceilings and the peers' drain.

Nothing here is imported by hookstream itself. Modules that the peers' virtualenv runs
(`payload`, `peers/*_app.py`) import only the standard library, aiohttp and the peer.
"""
