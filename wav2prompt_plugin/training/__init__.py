"""Training rules beyond fairseq's: the precision combinations, DDP's unused parameters, the skip of a
batch whose loss is not finite."""
