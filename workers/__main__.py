"""`python -m workers`: the delivery worker role."""

from broker.cli import main

main(["worker"])
