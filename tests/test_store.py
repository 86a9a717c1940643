"""The SQLite project store: CRUD, human-frame protection, undo/redo, listeners, threads, bad files."""
import sqlite3
import threading

import numpy as np
import pytest

from app.core.errors import StoreError
from app.core.model import FrameAnnotation, TrackObject, VideoAnnotations, decode_mask, encode_mask
from app.core.store import ProjectStore

HUMAN = FrameAnnotation(box=(10, 20, 30, 40), source="human")


def machine(x, score=0.9, name="csrt"):
    return FrameAnnotation(box=(float(x), 5.0, 20.0, 10.0), score=score, source=f"tracker:{name}")


@pytest.fixture
def store(tmp_path):
    s = ProjectStore.open(str(tmp_path / "p.taproj"), video_path=str(tmp_path / "clip.mp4"))
    yield s
    s.close()


def test_crud_roundtrip_with_mask(store):
    tid = store.add_object("car", tracker="kcf")
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:30] = True
    ann = FrameAnnotation(box=(10, 5, 20, 10), mask_rle=encode_mask(mask), score=0.5, source="tracker:kcf")
    assert store.put(tid, 3, ann)
    got = store.get(tid, 3)
    assert got.box == (10.0, 5.0, 20.0, 10.0) and got.score == 0.5 and got.source == "tracker:kcf"
    assert np.array_equal(decode_mask(got.mask_rle), mask)
    assert store.get(tid, 4) is None
    store.put(tid, 5, FrameAnnotation(box=None, absent=True, source="tracker:kcf"))
    assert store.get(tid, 5).absent and store.get(tid, 5).box is None
    assert sorted(store.frames(tid)) == [3, 5]
    assert sorted(store.frames(tid, 4, 6)) == [5] and store.frames(tid, 3, 5).keys() == {3}
    store.delete(tid, 3)
    assert store.get(tid, 3) is None
    store.update_object(tid, category="truck", visible=False, color="#00ff00")
    (obj,) = store.objects()
    assert (obj.category, obj.visible, obj.color, obj.tracker) == ("truck", False, "#00ff00", "kcf")
    with pytest.raises(StoreError, match="unknown object field"):
        store.update_object(tid, size=3)


def test_bad_annotations_are_refused(store):
    tid = store.add_object()
    with pytest.raises(StoreError, match="finite"):
        store.put(tid, 0, FrameAnnotation(box=(1, 2, float("nan"), 4), source="human"))
    with pytest.raises(StoreError, match="source"):
        store.put(tid, 0, FrameAnnotation(box=(1, 2, 3, 4), source="robot"))
    with pytest.raises(StoreError, match="track id 99"):
        store.put(99, 0, HUMAN)
    with pytest.raises(StoreError, match=">= 0"):
        store.put(tid, -1, HUMAN)
    assert store.frames(tid) == {}


def test_track_ids_are_never_reused(store, tmp_path):
    a = store.add_object()
    b = store.add_object()
    store.delete_object(b)
    assert [o.track_id for o in store.objects()] == [a]
    path = store.path
    store.close()
    with ProjectStore.open(path) as again:
        assert again.add_object() == b + 1


def test_human_frames_are_protected(store):
    tid = store.add_object()
    store.put(tid, 10, HUMAN)
    assert store.put(tid, 10, machine(1)) is False
    assert store.get(tid, 10) == HUMAN
    written = store.put_many(tid, {9: machine(1), 10: machine(2), 11: machine(3)})
    assert written == 2 and store.get(tid, 10) == HUMAN
    assert store.put(tid, 10, machine(4), overwrite_human=True)
    assert store.get(tid, 10).source == "tracker:csrt"
    store.put(tid, 12, HUMAN)
    assert store.put(tid, 11, HUMAN)  # a human may always overwrite a machine frame
    assert store.keyframes(tid) == [11, 12]
    store.put_many(tid, {20: machine(1), 21: FrameAnnotation(box=(1, 1, 2, 2), source="interpolated")})
    assert store.clear_machine_frames(tid, 9, 21) == 3  # 9, 10, 20; not 11/12 (human) nor 21 (outside)
    assert sorted(store.frames(tid)) == [11, 12, 21]


def test_undo_redo_single_steps_and_groups(store):
    tid = store.add_object()
    store.put(tid, 0, HUMAN)
    with store.group("propagate"):
        for f in range(1, 6):
            store.put(tid, f, machine(f))
        store.put(tid, 3, machine(33))  # rewritten inside the group
    store.put(tid, 0, HUMAN.with_(box=(1, 1, 5, 5)))
    assert store.undo_label() == "edit frame"

    assert store.undo()  # the last single edit
    assert store.get(tid, 0) == HUMAN and len(store.frames(tid)) == 6
    assert store.undo()  # the whole group at once
    assert sorted(store.frames(tid)) == [0]
    assert store.can_redo()
    assert store.redo()
    assert store.get(tid, 3).box[0] == 33.0 and len(store.frames(tid)) == 6
    assert store.redo() and store.get(tid, 0).box == (1.0, 1.0, 5.0, 5.0)
    assert not store.redo()
    store.undo()
    store.put(tid, 50, machine(50))  # a new edit drops the redo branch
    assert not store.can_redo()


def test_undo_object_creation_and_deletion(store):
    tid = store.add_object("dog")
    store.put(tid, 1, HUMAN)
    store.delete_object(tid)
    assert store.objects() == []
    store.undo()
    assert [o.category for o in store.objects()] == ["dog"] and store.get(tid, 1) == HUMAN
    store.undo()  # the frame
    store.undo()  # the creation
    assert store.objects() == [] and not store.can_undo()
    store.redo()
    assert [o.track_id for o in store.objects()] == [tid]


def test_groups_belong_to_their_thread(store):
    tid = store.add_object()
    started, release = threading.Event(), threading.Event()

    def worker():
        with store.group("run"):
            store.put(tid, 1, machine(1))
            started.set()
            release.wait(5)
            store.put(tid, 2, machine(2))

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    store.put(tid, 0, HUMAN)  # a GUI edit during the run: its own step
    release.set()
    t.join()
    assert store.undo_label() == "run"
    store.undo()
    assert sorted(store.frames(tid)) == [0]
    store.undo()
    assert store.frames(tid) == {}


def test_listeners_hear_committed_changes(store):
    heard = []
    store.add_listener(lambda tid, frames: heard.append((tid, frames)))
    tid = store.add_object()
    assert heard == [(tid, [])]
    store.put_many(tid, {4: machine(4), 2: machine(2)})
    assert heard[-1] == (tid, [2, 4])
    store.put(tid, 4, machine(4))  # unchanged: nothing to hear
    assert len(heard) == 2
    store.undo()
    assert heard[-1] == (tid, [2, 4])
    with pytest.raises(StoreError):
        store.put(tid, 1, FrameAnnotation(box=(0, 0, 1, float("inf")), source="human"))
    assert len(heard) == 3  # a refused write is not announced

    def broken(tid, frames):
        raise RuntimeError("listener bug")

    store.add_listener(broken)
    store.put(tid, 7, HUMAN)  # still written despite the broken listener
    assert store.get(tid, 7) == HUMAN


def test_concurrent_writer_and_reader(store):
    tid = store.add_object()
    errors = []
    n = 300

    def writer():
        try:
            with store.group("run"):
                for f in range(n):
                    store.put(tid, f, machine(f))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    def reader():
        try:
            for _ in range(200):
                frames = store.frames(tid)
                # a prefix, never a torn row
                assert sorted(frames) == list(range(len(frames)))
                assert all(a.box[0] == f for f, a in frames.items())
                store.objects()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.frames(tid)) == n


def test_reopen_keeps_everything(tmp_path):
    path = str(tmp_path / "r.taproj")
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with ProjectStore.open(path, video_path=str(video)) as s:
        tid = s.add_object("cat")
        s.put(tid, 2, HUMAN)
        s.set_meta("fps", 30.0)
    with ProjectStore.open(path, create=False) as s:
        assert s.get(tid, 2) == HUMAN and s.get_meta("fps") == 30.0
        assert s.video_path == str(video)
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_annotations_exchange(store):
    va = VideoAnnotations("clip", 64, 48, 10, objects=[
        TrackObject(7, "person", "#123456", {0: HUMAN, 3: machine(3)}),
        TrackObject(9, "ball", frames={1: FrameAnnotation(box=None, absent=True, source="human")}),
    ])
    mapping = store.import_annotations(va)
    assert set(mapping) == {7, 9} and len(set(mapping.values())) == 2
    out = store.to_annotations("clip", 64, 48, 10)
    assert (out.width, out.height, out.num_frames) == (64, 48, 10)
    by_cat = {o.category: o for o in out.objects}
    assert by_cat["person"].frames == {0: HUMAN, 3: machine(3)} and by_cat["person"].color == "#123456"
    assert by_cat["ball"].frames[1].absent
    assert store.undo()  # the import is one step
    assert store.objects() == []


def test_malformed_files_raise_store_error(tmp_path):
    garbage = tmp_path / "garbage.taproj"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(StoreError, match="garbage.taproj"):
        ProjectStore.open(str(garbage))
    assert garbage.stat().st_size == 4096  # untouched

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (a)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="other.db.*not a TrackAssist project"):
        ProjectStore.open(str(other))

    newer = tmp_path / "newer.taproj"
    ProjectStore.open(str(newer)).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer.taproj.*newer TrackAssist"):
        ProjectStore.open(str(newer))

    with pytest.raises(StoreError, match="missing.taproj"):
        ProjectStore.open(str(tmp_path / "missing.taproj"), create=False)
