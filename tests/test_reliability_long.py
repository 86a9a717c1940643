"""Long image folders: the fast natural sort used on open gives exactly the natural order."""
import string

from hypothesis import given, settings, strategies as st

from app.core.video import _natural_key, natural_sorted, open_video

NAME_PART = st.one_of(st.text(alphabet=string.digits, min_size=1, max_size=4),
                      st.text(alphabet="abAB_-.", min_size=1, max_size=3))


@settings(max_examples=120, deadline=None)
@given(names=st.lists(st.lists(NAME_PART, min_size=1, max_size=4).map("".join), max_size=30, unique=True),
       pad=st.integers(0, 6))
def test_fast_natural_sort_equals_the_natural_key_order(names, pad):
    padded = sorted({f"frame_{i * 7 % 1000:0{pad}d}.jpg" for i in range(len(names) * 3)})
    for batch in (names, padded, names + padded):
        assert natural_sorted(list(batch)) == sorted(batch, key=_natural_key)


def test_folder_of_zero_padded_names_opens_in_numeric_order(tmp_path):
    import cv2
    import numpy as np

    image = np.zeros((8, 10, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "000000.png"), image)
    for i in (10, 2, 100, 1):
        (tmp_path / f"{i:06d}.png").hardlink_to(tmp_path / "000000.png")
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / "sub.png").mkdir()   # a folder named like an image is not a frame
    with open_video(str(tmp_path)) as video:
        assert video.files == ["000000.png", "000001.png", "000002.png", "000010.png", "000100.png"]
