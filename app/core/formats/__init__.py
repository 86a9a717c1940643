"""Annotation file formats: COCO (RLE masks), GOT-10k and YouTube-VIS.

Each format module reads files into ``app.core.model.VideoAnnotations`` and
writes them back; malformed input raises ``app.core.errors.FormatError``
naming the file and the field or line, and writes are atomic.
"""
