"""SiamTFA (Li et al., "End-to-end temporal feature aggregation for Siamese trackers"), CPU edition.

Modules: :mod:`.model` (shift-augmented last backbone stage, FPN, modulation and
heads), :mod:`.proposals` (anchors, proposal selection, training targets),
:mod:`.adversarial` (adversarial dropout), :mod:`.data` (feature cache),
:mod:`.train` (``python -m trackers.siamtfa.train``), :mod:`.tracker`
(the :class:`~trackers.base.Tracker`), :mod:`.evaluate` (offline evaluation
that hands the tracker the next frame).
"""
