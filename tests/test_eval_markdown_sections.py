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


def test_new_section_is_appended_and_replaced_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(splice_marked_section(str(path), "bench", "main"))
    path.write_text(splice_marked_section(str(path), "gstp", "held-out 1"))
    path.write_text(splice_marked_section(str(path), "fcot", "fcot run"))
    out = splice_marked_section(str(path), "gstp", "held-out 2")
    assert "held-out 1" not in out
    assert out.index("main") < out.index("held-out 2") < out.index("fcot run")
