"""Fuzzed annotation files at the text level, and malformed imports into an existing project.

tests/test_formats_malformed.py damages the parsed JSON (junk values, missing
keys); this file damages the *text*: numbers replaced by literals a JSON
parser turns into inf/NaN/huge ints or other types, and files cut at random
offsets.  Then the same files go through ``trackassist import`` into a
project that already holds annotations: the command ends with exit 2 and one
line naming the file, or imports; either way what was stored before reads
back identical.
"""
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.cli.main import main
from app.core.formats import coco, ytvis
from app.core.model import FrameAnnotation
from app.core.store import ProjectStore
from test_formats_malformed import GOT_LINE, SMALL, check_only_format_errors

NASTY_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "-0", "1e308", "-1", "0.5", "4294967296",
                 "123456789012345678901234567890123456789", '"7"', '"1e3"', "true", "null", "[]", "{}"]
NUMBER = re.compile(r"(?<![\w.\"])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w\"])")
FORMATS = {"coco": coco, "youtube-vis": ytvis}
TEXTS = {name: json.dumps(fmt.to_json([SMALL])) for name, fmt in FORMATS.items()}
NUMBER_SPANS = {name: [m.span() for m in NUMBER.finditer(text)] for name, text in TEXTS.items()}


@st.composite
def damaged_text(draw, name: str) -> str:
    text = TEXTS[name]
    if draw(st.integers(0, 4)) == 0:   # cut the file short
        return text[:draw(st.integers(0, len(text) - 1))]
    spans = draw(st.lists(st.sampled_from(NUMBER_SPANS[name]), min_size=1, max_size=3, unique=True))
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + draw(st.sampled_from(NASTY_NUMBERS)) + text[end:]
    return text


FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_numbers_replaced_or_file_cut_raise_only_format_error(tmp_path, name, data):
    path = tmp_path / "fuzz.json"
    path.write_text(data.draw(damaged_text(name)))
    check_only_format_errors(FORMATS[name], str(path))


# -- imports into a project that already holds annotations ---------------------------------

BEFORE = {0: FrameAnnotation(box=(1.0, 2.0, 5.0, 4.0), source="human"),
          1: FrameAnnotation(box=(2.0, 2.0, 5.0, 4.0), score=0.75, source="tracker:csrt"),
          2: FrameAnnotation(absent=True, source="human")}


def read_back(path: str) -> list:
    with ProjectStore.open(path, create=False) as store:
        return [(o.track_id, o.category, o.color, o.visible, o.tracker, store.frames(o.track_id))
                for o in store.objects()]


@pytest.fixture(scope="module")
def base_project(tmp_path_factory):
    """A project without a video (the import's size check is skipped, so more gets through to the store)."""
    path = str(tmp_path_factory.mktemp("base") / "base.taproj")
    with ProjectStore.open(path) as store:
        tid = store.add_object("person")
        store.put_many(tid, BEFORE)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_malformed_import_leaves_stored_annotations_identical(tmp_path, base_project, capsys, name, data):
    project = tmp_path / "p.taproj"
    project.write_bytes(open(base_project, "rb").read())
    before = read_back(str(project))
    source = tmp_path / "in.json"
    source.write_text(data.draw(damaged_text(name)))
    capsys.readouterr()
    code = main(["import", str(source), "--format", name, "--project", str(project)])
    err = capsys.readouterr().err.strip()
    after = read_back(str(project))
    if code == 0:   # the damage left a valid file: the import only added objects
        assert after[:len(before)] == before and len(after) > len(before)
    else:
        assert code == 2 and len(err.splitlines()) == 1 and str(source) in err, err
        assert after == before


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(GOT_LINE, min_size=1, max_size=5),
       absence=st.one_of(st.none(), st.lists(st.sampled_from(["0", "1", "2", "x", "", "1e999"]), max_size=6)))
def test_malformed_got10k_import_leaves_stored_annotations_identical(tmp_path, base_project, capsys, lines, absence):
    project = tmp_path / "p.taproj"
    project.write_bytes(open(base_project, "rb").read())
    before = read_back(str(project))
    seq = tmp_path / "seq"
    seq.mkdir(exist_ok=True)
    for old in seq.iterdir():
        old.unlink()
    (seq / "groundtruth.txt").write_text("\n".join(lines))
    if absence is not None:
        (seq / "absence.label").write_text("\n".join(absence))
    capsys.readouterr()
    code = main(["import", str(seq), "--format", "got10k", "--project", str(project)])
    err = capsys.readouterr().err.strip()
    after = read_back(str(project))
    if code == 0:
        assert after[:len(before)] == before and len(after) == len(before) + 1
    else:
        assert code == 2 and len(err.splitlines()) == 1 and str(seq) in err, err
        assert after == before
