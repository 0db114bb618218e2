"""`python -m broker`: the ingress role."""

from broker.cli import main

main(["ingress"])
