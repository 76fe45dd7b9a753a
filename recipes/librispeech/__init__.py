"""recipes/librispeech: run.sh, its configuration (conf/) and its helpers (local/)."""
