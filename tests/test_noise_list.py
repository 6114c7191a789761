"""`hf_loader.noise_list`: the one reader and writer of `noise_files.txt`."""

from __future__ import annotations

import pytest

from hf_loader.noise_list import parse_noise_list, read_noise_list, write_noise_list


def test_written_list_reads_back_by_folder_and_by_sample_number(tmp_path):
    path = write_noise_list(
        tmp_path / "noise_files.txt",
        [("12_Cyst,Stone", ["03.jpg", "04.jpg"]), ("5_Nodule", []), ("7_Stone", ["01.jpg"])],
        prefix="/home/ahu/Data/processed",
    )
    text = path.read_text(encoding="utf-8")
    assert text == (
        "Subdirectory: 12_Cyst,Stone\n"
        "/home/ahu/Data/processed/12_Cyst,Stone/03.jpg\n"
        "/home/ahu/Data/processed/12_Cyst,Stone/04.jpg\n"
        "\n"
        "Subdirectory: 7_Stone\n"
        "/home/ahu/Data/processed/7_Stone/01.jpg\n"
    )
    assert read_noise_list(path) == {"12_Cyst,Stone": ["03.jpg", "04.jpg"], "7_Stone": ["01.jpg"]}
    assert parse_noise_list(text) == {12: {3, 4}, 7: {1}}


def test_a_folder_given_twice_is_refused(tmp_path):
    with pytest.raises(ValueError, match="5_Nodule: given twice"):
        write_noise_list(
            tmp_path / "noise_files.txt", [("5_Nodule", ["01.jpg"]), ("5_Nodule", ["02.jpg"])], prefix="/x"
        )
    assert not (tmp_path / "noise_files.txt").exists()
