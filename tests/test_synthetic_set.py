"""The neutral synthetic set used to choose defaults: seeds parse, a sequence loads as GOT-10k."""
from trackers.data.synthetic_set import clip_for_seed, main, parse_seeds
from trackers.eval.dataset import load_sequence


def test_seed_ranges_and_lists_parse():
    assert parse_seeds("9000-9002,7") == [9000, 9001, 9002, 7]
    assert parse_seeds("5") == [5]


def test_a_written_sequence_loads_with_its_boxes(tmp_path):
    main([str(tmp_path), "--seeds", "9006"])
    seq = load_sequence(str(tmp_path), "synth-9006")
    clip = clip_for_seed(9006)
    assert len(seq) == len(clip) == 120 and seq.size == (640, 360)
    assert abs(seq.boxes[60][2] - clip.box(60)[2]) < 1e-2
    # 9006: an occluder (even seed) and a look-alike (divisible by 3)
    assert clip.spec.occluder and clip.spec.distractor
