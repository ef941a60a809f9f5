"""Full-precision studies of the source papers, each run by ``l1ad study NAME`` into RUN_DIR/studies/NAME."""
