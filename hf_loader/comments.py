"""Read the raw tier's tables: a post's comment table and `rename.xlsx`.

Comment table (`comments.xlsx`, one sheet; see docs/archive_format.md): a header row naming at
least a comment column, then one comment per row, in thread order.

- A reply is indented under its parent: the comment cell's indent (openpyxl `Alignment.indent`)
  or, for tables whose styles were lost, leading spaces (full-width `\\u3000` counts as two).
  `depth` is 0 for a top-level comment, 1 for a reply, ...; `parent` is the index of the nearest
  earlier comment one level up (`-1` for a top-level one).
- `liked_by_creator`: 是/否, yes/no, true/false, 1/0, ✓ (None when the column is missing or empty).
- `by_creator`: the comment cell is filled yellow (the paper highlights the creator's own
  comments) or an explicit `by_creator`/`作者` column says so.

Column names are matched loosely (English or Chinese, any case). A `.csv` table with the same
columns is read too (depth from leading spaces; `by_creator` only from a column).

`rename.xlsx`: columns `original_path | encoded_path | filtered_name` (the last one optional:
it links a raw post to its filtered entry, which the `full` config and the `creator` split need;
`parse_link_target` reads that name).
"""

from __future__ import annotations

import csv
import io
import posixpath
import zipfile
from dataclasses import dataclass

from .errors import CommentTableError
from .naming import EntryName, parse_filtered_name

COMMENT_FIELDS = ("text", "depth", "parent", "likes", "liked_by_creator", "by_creator", "time")

_COMMENT_COLUMN = ("comment", "comments", "text", "content", "评论", "评论内容", "内容", "留言")
_LIKES_COLUMN = ("likes", "like_count", "likes_count", "点赞", "点赞数", "赞")
_LIKED_COLUMN = (
    "liked_by_creator",
    "creator_liked",
    "author_liked",
    "作者赞过",
    "作者点赞",
    "作者是否点赞",
    "是否点赞",
)
_BY_CREATOR_COLUMN = ("by_creator", "is_creator", "author", "作者", "是否作者", "作者评论")
_TIME_COLUMN = ("time", "date", "timestamp", "时间", "评论时间")

_ORIGINAL_COLUMN = ("original_path", "original", "original_name", "原路径", "原始路径", "原文件名")
_ENCODED_COLUMN = ("encoded_path", "encoded", "encoded_name", "new_path", "编码路径", "新路径", "编码后路径")
_FILTERED_COLUMN = ("filtered_name", "filtered", "filtered_path", "sample", "筛选后名称")

_TRUE = {"是", "yes", "y", "true", "1", "✓", "√", "t"}
_FALSE = {"否", "no", "n", "false", "0", "✗", "×", "f", ""}
_INDENT_SPACES = {" ": 1, "\u3000": 2, "\t": 2}


def _normalise_header(value) -> str:
    return str(value or "").strip().lower().replace(" ", "_")


def _find_column(header: list[str], aliases: tuple[str, ...]) -> int | None:
    for alias in aliases:
        if alias in header:
            return header.index(alias)
    return None


def _parse_bool(value, entry: str, column: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False if text else None
    raise CommentTableError(
        f"column {column!r} holds {value!r}, expected 是/否 (yes/no); fix the cell or the table.", entry=entry
    )


def _parse_likes(value) -> int | None:
    try:
        return int(float(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _text_or_none(cell) -> str | None:
    if cell is None or cell.value in (None, ""):
        return None
    value = cell.value
    # openpyxl gives datetime for date cells; keep minutes, as the tables write them.
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value).strip()


def _split_indent(text: str) -> tuple[int, str]:
    """`"\\u3000\\u3000reply"` → `(2, "reply")`: width of the leading blanks, and the text without them."""
    width = 0
    for position, character in enumerate(text):
        if character not in _INDENT_SPACES:
            return width, text[position:]
        width += _INDENT_SPACES[character]
    return width, ""


def _is_yellow(cell) -> bool:
    fill = getattr(cell, "fill", None)
    if fill is None or getattr(fill, "fill_type", None) in (None, "none"):
        return False
    color = getattr(getattr(fill, "fgColor", None), "rgb", None)
    # ARGB like "FFFFFF00"; theme/indexed colours come back as non-strings.
    return isinstance(color, str) and color.upper().endswith("FFFF00")


def _rows_from_xlsx(data: bytes, entry: str):
    """Rows of the first sheet as lists of openpyxl cells (styles kept)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError) as error:
        raise CommentTableError(
            f"not a readable .xlsx workbook ({type(error).__name__}: {error}); re-export the table as .xlsx.",
            entry=entry,
        ) from None
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        raise CommentTableError("the workbook has no sheet.", entry=entry)
    return [list(row) for row in sheet.iter_rows()]


class _PlainCell:
    """A cell of a .csv table, shaped like an openpyxl cell (no styles)."""

    fill = None
    alignment = None

    def __init__(self, value):
        self.value = value


def _rows_from_csv(data: bytes, entry: str):
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise CommentTableError("a .csv table that is neither UTF-8 nor GB18030 text.", entry=entry)
    return [[_PlainCell(value) for value in row] for row in csv.reader(io.StringIO(text))]


def _table_rows(data: bytes, entry: str):
    if data[:2] == b"PK":
        return _rows_from_xlsx(data, entry)
    if entry.lower().endswith(".csv"):
        return _rows_from_csv(data, entry)
    raise CommentTableError(
        "not an .xlsx workbook (no zip signature) nor a .csv table; is the file truncated? Replace it with the "
        "archive's copy, or re-export the table as .xlsx.",
        entry=entry,
    )


def _header_row(rows, aliases: tuple[str, ...], entry: str, what: str) -> tuple[int, list[str]]:
    """Index and normalised header of the first row (within the first 5) holding one of `aliases`."""
    for index, row in enumerate(rows[:5]):
        header = [_normalise_header(cell.value) for cell in row]
        if _find_column(header, aliases) is not None:
            return index, header
    raise CommentTableError(
        f"no {what} column in the first rows (looked for {', '.join(aliases[:4])}, ...); "
        "the table needs a header row naming its columns.",
        entry=entry,
    )


def read_comment_table(data: bytes, entry: str = "comments.xlsx") -> list[dict]:
    """Parse a post's comment table.

    Args:
        data: the file's bytes (`.xlsx`, or `.csv` when `entry` ends with `.csv`).
        entry: the table's path, used in error messages and to tell .csv from .xlsx.

    Returns:
        One dict per comment in table order, with keys `text` (str), `depth` (int, 0 = top level),
        `parent` (int index into the list, -1 for top level), `likes` (int or None),
        `liked_by_creator` (bool or None), `by_creator` (bool), `time` (str or None).

    Raises:
        CommentTableError: the file is not a table, or it has no comment column, or a cell holds
            a value that cannot be read.
    """
    rows = _table_rows(data, entry)
    header_index, header = _header_row(rows, _COMMENT_COLUMN, entry, "comment")
    text_column = _find_column(header, _COMMENT_COLUMN)
    likes_column = _find_column(header, _LIKES_COLUMN)
    liked_column = _find_column(header, _LIKED_COLUMN)
    by_creator_column = _find_column(header, _BY_CREATOR_COLUMN)
    time_column = _find_column(header, _TIME_COLUMN)

    def cell(row, column):
        return row[column] if column is not None and column < len(row) else None

    comments: list[dict] = []
    # Stack of (indent width, comment index) of the current thread's ancestors.
    ancestors: list[tuple[int, int]] = []
    for row_number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        text_cell = cell(row, text_column)
        raw_text = "" if text_cell is None or text_cell.value is None else str(text_cell.value)
        if not raw_text.strip():
            continue
        space_width, text = _split_indent(raw_text)
        style_indent = int(getattr(getattr(text_cell, "alignment", None), "indent", 0) or 0)
        # Depth comes from comparing indents with earlier rows, so only their order matters.
        indent = style_indent or space_width
        while ancestors and ancestors[-1][0] >= indent:
            ancestors.pop()
        depth = len(ancestors)
        parent = ancestors[-1][1] if ancestors else -1
        location = f"{entry} row {row_number}"
        liked_cell = cell(row, liked_column)
        by_creator_cell = cell(row, by_creator_column)
        by_creator = _is_yellow(text_cell)
        if by_creator_cell is not None and by_creator_cell.value not in (None, ""):
            by_creator = bool(_parse_bool(by_creator_cell.value, location, header[by_creator_column]))
        comments.append(
            {
                "text": text.strip(),
                "depth": depth,
                "parent": parent,
                "likes": _parse_likes(cell(row, likes_column).value if cell(row, likes_column) else None),
                "liked_by_creator": _parse_bool(
                    liked_cell.value if liked_cell is not None else None,
                    location,
                    header[liked_column] if liked_column is not None else "",
                ),
                "by_creator": by_creator,
                "time": _text_or_none(cell(row, time_column)),
            }
        )
        ancestors.append((indent, len(comments) - 1))
    return comments


@dataclass(frozen=True)
class RenameRow:
    """One row of `rename.xlsx`.

    Attributes:
        original_path: the creator's original file name, e.g. `<creator>/<title>.mp4`.
        encoded_path: the post's path inside `raw/`, `<creator>/<post code>`.
        filtered_name: the filtered entry the post became (`Video_12_Cyst`), or None when not recorded.
    """

    original_path: str
    encoded_path: str
    filtered_name: str | None

    @property
    def creator(self) -> str:
        """The creator folder: the first component of `encoded_path` (else of `original_path`)."""
        for path in (self.encoded_path, self.original_path):
            parts = [part for part in path.replace("\\", "/").split("/") if part]
            if len(parts) > 1:
                return parts[0]
        return ""


def read_rename_table(data: bytes, entry: str = "rename.xlsx") -> list[RenameRow]:
    """Parse `rename.xlsx` into rows.

    Raises:
        CommentTableError: the file is not a table or lacks the `original_path`/`encoded_path` columns.
    """
    rows = _table_rows(data, entry)
    header_index, header = _header_row(rows, _ENCODED_COLUMN, entry, "encoded_path")
    original_column = _find_column(header, _ORIGINAL_COLUMN)
    encoded_column = _find_column(header, _ENCODED_COLUMN)
    filtered_column = _find_column(header, _FILTERED_COLUMN)

    def value(row, column) -> str | None:
        if column is None or column >= len(row) or row[column].value is None:
            return None
        text = str(row[column].value).strip()
        return text or None

    table = []
    for row in rows[header_index + 1 :]:
        encoded = value(row, encoded_column)
        if encoded is None:
            continue
        table.append(
            RenameRow(
                original_path=value(row, original_column) or "",
                encoded_path=encoded.replace("\\", "/").strip("/"),
                filtered_name=value(row, filtered_column),
            )
        )
    return table


def parse_link_target(filtered_name: str) -> EntryName:
    """The filtered entry a rename.xlsx row's `filtered_name` names: `Video_<N>_<Labels>` (extension optional)
    or `Photos_<N>_<Labels>`; folders before it, which some rows carry, are ignored.

    Raises:
        NameParseError: the name does not follow the pattern.
    """
    return parse_filtered_name(posixpath.basename(filtered_name.replace("\\", "/")), require_extension=False)
