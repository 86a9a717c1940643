"""Qt-free core: video sources, the annotation store, formats, propagation.

Nothing under ``app.core`` may import Qt (enforced by tests/test_architecture.py).
"""
