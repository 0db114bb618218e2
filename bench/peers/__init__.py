"""The peers' side of `make bench-peers`: the same drain job on taskiq and on saq.

`*_app.py` and `job.py` run in bench/.peers-venv (standard library, aiohttp and the peer
only); `run.py` runs in the project venv and drives them like the hookstream roles.
"""
