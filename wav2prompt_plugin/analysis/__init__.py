"""What a decoded utterance tells beside its text: confidence, CIF timestamps, the explain picture."""
