"""mnlab.storage: the one atomic write, for bytes, text and CSV tables."""
import pandas as pd

from mnlab.storage import write_atomic, write_csv


def test_write_atomic_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "folder" / "file.bin"
    write_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    write_atomic(str(path), "é\n")                 # text is written as UTF-8, over the old file
    assert path.read_bytes() == "é\n".encode("utf-8")
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]


def test_write_csv_is_pandas_csv_without_the_index(tmp_path):
    table = pd.DataFrame({"a": [1, 2], "b": [0.123456789, 2.5]}, index=[7, 8])
    write_csv(table, tmp_path / "t.csv", float_format="%.3g")
    assert (tmp_path / "t.csv").read_text() == "a,b\n1,0.123\n2,2.5\n"
    write_csv(table, tmp_path / "t.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "t.csv"), table.reset_index(drop=True))
