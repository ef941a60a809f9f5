"""Stage 5: reports and the CI gate, read from run artifacts only."""
