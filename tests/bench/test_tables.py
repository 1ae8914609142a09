import json

from bench.lidar_objects import report
from bench.lidar_objects import table as lidar_table
from bench.tables import markdown_table
from bench.tiling_recall import table as tiling_table


def test_markdown_table_aligns_text_left_and_figures_right():
    text = markdown_table(["name", "kind", "n"], [["a", "x", 3], ["b", "y", 12]], text_columns=2)
    assert text.splitlines() == ["| name | kind | n |", "|---|---|---:|", "| a | x | 3 |", "| b | y | 12 |"]


def test_bench_tables_render_their_rows():
    row = {"sample": "kitti/000008", "cars": 3, "cars_found": 2, "cars_found_as_car": 1, "objects": 5,
           "objects_found": 4, "false": 1, "detections_in_view": 6, "false_cars": 0,
           "car_detections_in_view": 2, "ms": 12.34}
    lines = lidar_table([row]).splitlines()
    assert lines[1] == "|---|---:|---:|---:|---:|---:|"
    assert lines[2] == "| kitti/000008 | 2 (1) / 3 | 4 / 5 | 1 / 6 | 0 / 2 | 12 |"
    tiles = {"tiles": "2x2", "crops_per_frame": 5.0, "found": 4, "labels": 5, "recall": 0.8,
             "ms_per_frame": 80.2}
    assert tiling_table([tiles]).splitlines()[2] == "| tiles=2x2 + full frame | 5 | 4 / 5 | 0.80 | 80 |"


def test_bench_report_prints_and_writes_the_rows(tmp_path, capsys):
    rows = [{"sample": "a", "n": 1}, {"sample": "total", "n": 1}]
    out = tmp_path / "rows.json"
    def table(rs: list[dict]) -> str:
        return f"| {len(rs)} rows |"

    def summary(t: dict) -> str:
        return f"{t['sample']}: {t['n']}"

    report("title", rows, table, summary, out, {"max_dist_m": 2.0, "config": {"eps": 1.0}})
    assert capsys.readouterr().out == "title\n| 2 rows |\ntotal: 1\n"
    assert json.loads(out.read_text()) == {"max_dist_m": 2.0, "config": {"eps": 1.0}, "rows": rows}
    report("title", rows, table, summary, None, {})
    assert capsys.readouterr().out.count("\n") == 3
