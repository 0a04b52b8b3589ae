"""One protocol run and many: plan (resolve the protocol), load the splits, build the dual encoder,
train, select, test; sweeps over a grid."""
