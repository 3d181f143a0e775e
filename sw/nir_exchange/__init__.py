"""NIR exchange (docs/nir.md): a trained net out as a NIR graph (:mod:`.writer`), a peer's NIR
graph in as a model file (:mod:`.reader`), the graph's nodes read as the contract's chain
(:mod:`.graph`), and the peers' side, snnTorch and SpikingJelly nets written as NIR
(:mod:`.peers`)."""
