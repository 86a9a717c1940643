from trackers.eval.benchmark import splice_marked_section


def test_regenerated_table_keeps_other_sections(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("<!-- bench -->\nold table\n<!-- /bench -->\n\n<!-- gui-latency -->\nGUI figures\n<!-- /gui-latency -->\n")
    out = splice_marked_section(str(path), "bench", "new table\n")
    assert "new table" in out and "old table" not in out
    assert "<!-- gui-latency -->\nGUI figures\n<!-- /gui-latency -->" in out
    assert out.index("new table") < out.index("GUI figures")


def test_first_write_and_unmarked_old_text(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    assert splice_marked_section(str(path), "bench", "t") == "<!-- bench -->\nt\n<!-- /bench -->\n"
    path.write_text("# an old unmarked table\n<!-- long-video -->\nLV\n<!-- /long-video -->\n")
    out = splice_marked_section(str(path), "bench", "t")
    assert "old unmarked" not in out and "LV" in out
