"""`python -m broker`: the ingress role."""

from hookstream.cli import main

main(["ingress"])
