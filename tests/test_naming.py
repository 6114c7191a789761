"""Entry names, frame names, noise lists and the raw tier's tables are parsed tolerantly and strictly."""

from __future__ import annotations

import io

import openpyxl
import pytest
from openpyxl.styles import Alignment, PatternFill

from hf_loader.comments import read_comment_table, read_rename_table
from hf_loader.errors import CommentTableError, NameParseError, UnknownLabelError
from hf_loader.naming import parse_filtered_name, parse_frame_number, parse_processed_name, sort_frame_names
from hf_loader.noise_list import parse_noise_list


def test_filtered_video_name_gives_number_labels_and_kind():
    entry = parse_filtered_name("Video_12_Cyst,Stone.mp4")
    assert (entry.sample_id, entry.labels, entry.kind, entry.primary_label) == (
        12,
        ("Cyst", "Stone"),
        "video",
        "Cyst",
    )


def test_photos_folder_is_an_image_set():
    entry = parse_filtered_name("Photos_3_Stone")
    assert (entry.sample_id, entry.labels, entry.kind) == (3, ("Stone",), "image_set")


@pytest.mark.parametrize(
    "name",
    [
        "Video_0012_Cyst, Stone.mp4",
        "video_12_cyst,stone.MP4",
        "VIDEO_12_CYST，STONE.mp4",
        "Video_12_Cyst ,Stone.avi",
    ],
)
def test_filtered_names_tolerate_padding_spaces_case_and_fullwidth_commas(name):
    entry = parse_filtered_name(name)
    assert (entry.sample_id, entry.labels) == (12, ("Cyst", "Stone"))


@pytest.mark.parametrize("name", ["12_Cyst,Stone", "0012_cyst, stone", "12_CYST,Stone,Cyst"])
def test_processed_names_tolerate_padding_and_case_and_drop_repeated_labels(name):
    entry = parse_processed_name(name)
    assert (entry.sample_id, entry.labels, entry.kind) == (12, ("Cyst", "Stone"), None)


def test_unknown_label_error_names_the_entry_the_label_and_the_fix():
    with pytest.raises(UnknownLabelError) as caught:
        parse_filtered_name("Video_5_Cyst,Tumour.mp4")
    message = str(caught.value)
    assert "Video_5_Cyst,Tumour.mp4" in message and "'Tumour'" in message
    assert "Tumor" in message and "errors='skip'" in message


@pytest.mark.parametrize("name", ["Video_5.mp4", "Clip_5_Cyst.mp4", "Video_x_Cyst.mp4", "Video_5_Cyst.txt"])
def test_malformed_filtered_names_raise_name_parse_error(name):
    with pytest.raises(NameParseError, match="expected"):
        parse_filtered_name(name)


def test_rename_table_names_without_extension_parse_only_when_allowed():
    assert parse_filtered_name("Video_2_Tumor", require_extension=False).sample_id == 2
    with pytest.raises(NameParseError):
        parse_filtered_name("Video_2_Tumor")


@pytest.mark.parametrize(
    "name, number", [("01.jpg", 1), ("7.png", 7), ("001.npy", 1), ("frame_013.JPG", 13), ("100.jpeg", 100)]
)
def test_frame_numbers(name, number):
    assert parse_frame_number(name) == number


def test_frames_sort_by_number_not_by_text():
    assert sort_frame_names(["10.jpg", "2.jpg", "01.jpg", "100.jpg"]) == [
        "01.jpg",
        "2.jpg",
        "10.jpg",
        "100.jpg",
    ]


def test_noise_list_matches_by_folder_and_file_name_never_by_prefix():
    text = (
        "Subdirectory: 12_Cyst,Stone\n"
        "/home/someone/Data/processed/12_Cyst,Stone/03.jpg\n"
        "D:\\other\\machine\\12_Cyst,Stone\\04.jpg\n"
        "\n"
        "Subdirectory: 0007_stone\n"
        "/x/7_Stone/1.npy\n"
    )
    assert parse_noise_list(text) == {12: {3, 4}, 7: {1}}


def _workbook_bytes(rows, styles=None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    for (row, column), (indent, yellow) in (styles or {}).items():
        cell = sheet.cell(row=row, column=column)
        if indent:
            cell.alignment = Alignment(indent=indent)
        if yellow:
            cell.fill = PatternFill(fill_type="solid", fgColor="FFFF00")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_comment_table_reads_threads_creator_likes_and_highlights():
    data = _workbook_bytes(
        [
            ["comment", "likes", "liked_by_creator", "time"],
            ["请问这是什么？😮", 3, "是", "2023-03-25 08:05"],
            ["\u3000\u3000定期复查就可以", 0, "否", "2023-03-25 09:05"],
            ["同问", 1, "否", None],
            ["\u3000\u3000谢谢", None, "是", None],
        ],
        styles={(3, 1): (1, True), (5, 1): (1, False)},
    )
    comments = read_comment_table(data)
    assert [c["text"] for c in comments] == ["请问这是什么？😮", "定期复查就可以", "同问", "谢谢"]
    assert [c["depth"] for c in comments] == [0, 1, 0, 1]
    assert [c["parent"] for c in comments] == [-1, 0, -1, 2]
    assert [c["liked_by_creator"] for c in comments] == [True, False, False, True]
    assert [c["by_creator"] for c in comments] == [False, True, False, False]
    assert [c["likes"] for c in comments] == [3, 0, 1, None]
    assert comments[0]["time"] == "2023-03-25 08:05"


def test_comment_table_without_styles_uses_leading_spaces_and_chinese_headers():
    data = "评论,点赞数,作者赞过\n第一条,2,是\n  回复,0,否\n    回复的回复,0,否\n".encode()
    comments = read_comment_table(data, entry="post/comments.csv")
    assert [c["depth"] for c in comments] == [0, 1, 2]
    assert [c["parent"] for c in comments] == [-1, 0, 1]
    assert [c["liked_by_creator"] for c in comments] == [True, False, False]


def test_comment_table_without_comment_column_raises_naming_the_file():
    data = _workbook_bytes([["foo", "bar"], ["x", "y"]])
    with pytest.raises(CommentTableError, match=r"raw/a/b/comments.xlsx: no comment column"):
        read_comment_table(data, entry="raw/a/b/comments.xlsx")


def test_rename_table_links_posts_to_filtered_names_and_creators():
    data = _workbook_bytes(
        [
            ["original_path", "encoded_path", "filtered_name"],
            ["医院/标题.mp4", "医院/V1", "Video_1_Cyst"],
            ["医院/图片", "医院/P2", None],
        ]
    )
    rows = read_rename_table(data)
    assert [(r.encoded_path, r.filtered_name, r.creator) for r in rows] == [
        ("医院/V1", "Video_1_Cyst", "医院"),
        ("医院/P2", None, "医院"),
    ]
