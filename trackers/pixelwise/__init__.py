"""Pixel-wise tracker: ConvLSTM local segmentation + global attention (see :mod:`.tracker`)."""
