"""`python -m scheduler`: the scheduler role, same as `hookstream scheduler`."""

from hookstream.cli import main

main(["scheduler"])
