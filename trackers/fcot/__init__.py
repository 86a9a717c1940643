"""FCOT: fully convolutional online tracking (Cui et al.), on EfficientNet-Lite0 for the CPU."""
