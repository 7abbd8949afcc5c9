"""Debates: N debaters answer, see each other, revise; a judge decides. Answer extractors
compare the answers."""
