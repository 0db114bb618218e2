"""hookstream's composition root: the CLI and the wiring of the three roles.

It sits above broker/, workers/ and scheduler/ so that none of them imports another role:
workers and scheduler import broker; only this package knows all three.
"""
