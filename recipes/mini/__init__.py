"""recipes/mini: run.sh, its configuration (conf/) and its helpers (local/)."""
