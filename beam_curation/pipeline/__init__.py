"""The Beam graph, I/O, runners and command line: wires `filters` together."""
