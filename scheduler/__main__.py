"""`python -m scheduler`: the scheduler role, same as `hookstream scheduler`."""

from broker.cli import main

main(["scheduler"])
