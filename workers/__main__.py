"""`python -m workers`: the delivery worker role."""

from hookstream.cli import main

main(["worker"])
