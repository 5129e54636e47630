"""Read tabular files (CSV or Parquet) into ``{column: numpy array}``.

Numeric columns (integers, floats, decimals) become float64 with NaN for missing values;
every other column (text, booleans, dates) becomes an object array of ``str`` with ``None``
for missing values. A CSV column holding any text that is not a number or a null marker
(``""``, ``NA``, ``NaN``, ``null``, ...) is therefore a text column.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
>>> _ = p.write_text("a,b\\n1.5,Q235\\n,Q345\\n")
>>> cols = read_table(p)
>>> cols["a"].tolist(), cols["b"].tolist(), is_numeric(cols["a"]), is_numeric(cols["b"])
([1.5, nan], ['Q235', 'Q345'], True, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from errors import UsageError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_CONVERT = pacsv.ConvertOptions(strings_can_be_null=True)  # "" in a text column = missing

__all__ = [
    "ParquetColumns",
    "column_is_numeric",
    "is_numeric",
    "numeric_text_culprit",
    "parse_name_list",
    "read_table",
    "select",
    "split_columns",
    "table_to_columns",
]


def is_numeric(values: np.ndarray) -> bool:
    """True for the float64 columns :func:`read_table` produces for numeric data."""
    return values.dtype.kind in "fiu"


def read_table(path: str | Path) -> Mapping[str, np.ndarray]:
    """Columns of a CSV or Parquet file; :class:`UsageError` naming the file on any problem."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise UsageError(f"{path}: empty file")
    if _is_parquet(path):
        return _read_parquet(path)
    table = _read_csv(path)
    _check_shape(path, table.column_names, table.num_rows)
    return table_to_columns(table)


def _check_shape(path: Path, names: list[str], rows: int) -> None:
    if not names:
        raise UsageError(f"{path}: no columns")
    if rows == 0:
        raise UsageError(f"{path}: no rows (header only)")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{path}: duplicate column {dupes[0]!r}")


def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


class ParquetColumns(Mapping[str, np.ndarray]):
    """The columns of a Parquet file, each read when asked for (the last one is kept).

    A comparison walks features one at a time, so a 1M x 20 file costs one column
    (8 MB) at a time rather than 160 MB, plus Arrow's buffers for a table. Whether a
    column is numeric comes from the schema, without reading it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = pq.ParquetFile(path)
        schema = self._file.schema_arrow
        self._names = list(schema.names)
        self._numeric = {
            f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
            or pa.types.is_decimal(f.type) or pa.types.is_null(f.type)
        }  # fmt: skip
        self.rows = self._file.metadata.num_rows
        self._last: tuple[str | None, np.ndarray | None] = (None, None)

    def numeric(self, name: str) -> bool:
        """True when ``self[name]`` is a float64 column (as :func:`is_numeric` would say)."""
        return name in self._numeric

    def __getitem__(self, name: str) -> np.ndarray:
        if name == self._last[0]:
            return self._last[1]  # type: ignore[return-value]
        if name not in self._numeric and name not in self._names:
            raise KeyError(name)
        try:
            table = self._file.read(columns=[name], use_threads=False)
        except (pa.ArrowException, OSError) as exc:
            raise UsageError(f"{self.path}: cannot read as Parquet: {_first_line(exc)}") from None
        values = table_to_columns(table)[name]
        del table
        pa.default_memory_pool().release_unused()
        self._last = (name, values)
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _read_parquet(path: Path) -> ParquetColumns:
    try:
        columns = ParquetColumns(path)
    except (pa.ArrowException, OSError) as exc:
        raise UsageError(f"{path}: cannot read as Parquet: {_first_line(exc)}") from None
    _check_shape(path, list(columns), columns.rows)
    return columns


def column_is_numeric(columns: Mapping[str, np.ndarray], name: str) -> bool:
    """:func:`is_numeric` of ``columns[name]``, from the schema when the file has one."""
    if isinstance(columns, ParquetColumns):
        return columns.numeric(name)
    return is_numeric(columns[name])


def select(columns: Mapping[str, np.ndarray], names: list[str]) -> Mapping[str, np.ndarray]:
    """``{n: columns[n] for n in names}`` without reading any column yet."""
    return _Select(columns, names)


class _Select(Mapping[str, np.ndarray]):
    def __init__(self, columns: Mapping[str, np.ndarray], names: list[str]) -> None:
        self._columns, self._names = columns, names

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        return self._columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _read_csv(path: Path) -> pa.Table:
    try:
        return pacsv.read_csv(path, convert_options=_CSV_CONVERT)
    except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read as CSV: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def table_to_columns(table: pa.Table) -> dict[str, np.ndarray]:
    """Arrow table → ``{name: float64 | object array}`` (see module docstring)."""
    out: dict[str, np.ndarray] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_float64(kind) and column.num_chunks == 1 and column.null_count == 0:
            # a view of Arrow's buffer: 1M x 20 doubles are not held twice (read-only)
            out[name] = column.chunk(0).to_numpy(zero_copy_only=True)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            out[name] = np.asarray(values, dtype=np.float64)
        elif pa.types.is_null(kind):
            out[name] = np.full(len(column), np.nan)
        else:
            text = column.cast(pa.string()) if not pa.types.is_string(kind) else column
            out[name] = np.asarray(text.to_pylist(), dtype=object)
    return out


def parse_name_list(text: str | None, flag: str) -> list[str]:
    """``"a, b,a"`` → ``["a", "b"]`` (order kept, duplicates dropped); empty names are errors.

    >>> parse_name_list("grade, shift,grade", "--categorical")
    ['grade', 'shift']
    """
    if not text:
        return []
    names = [part.strip() for part in text.split(",")]
    if any(not name for name in names):
        raise UsageError(f"{flag}: empty column name in {text!r}")
    return list(dict.fromkeys(names))


def numeric_text_culprit(values: np.ndarray) -> tuple[int, str] | None:
    """For a text column whose values are mostly numbers: (row, first non-number), else None.

    Such a column is a numeric column with text in it, not a categorical one.

    >>> numeric_text_culprit(np.array(["1.5", "2", "n/a?", None], dtype=object))
    (2, 'n/a?')
    >>> numeric_text_culprit(np.array(["Q235", "Q345", "7"], dtype=object)) is None
    True
    """
    numbers, culprit = 0, None
    for row, value in enumerate(values):
        if value is None:
            continue
        try:
            float(value)
        except ValueError:
            culprit = culprit or (row, str(value))
        else:
            numbers += 1
    texts = sum(v is not None for v in values) - numbers
    return culprit if culprit is not None and numbers > texts else None


def split_columns(
    columns: Mapping[str, np.ndarray],
    categorical: list[str],
    path: str | Path,
    flag: str = "--categorical",
) -> tuple[list[str], list[str], list[str]]:
    """(numeric, categorical, skipped text) column names of one file, in file order.

    Raises :class:`UsageError` for a ``categorical`` name that is not a column and for text
    in a numeric column (a text column that is mostly numbers).
    """
    for name in categorical:
        if name not in columns:
            raise UsageError(f"{flag} column {name!r} is not in {path}")
    numeric, cats, skipped = [], [], []
    for name in columns:
        if name in categorical:
            cats.append(name)
        elif column_is_numeric(columns, name):
            numeric.append(name)
        else:
            culprit = numeric_text_culprit(columns[name])
            if culprit is not None:
                row, text = culprit
                raise UsageError(
                    f"{path}: column {name!r} is numeric but row {row + 1} holds text {text!r}"
                    f" (fix the value, or name the column with {flag} if it is categorical)"
                )
            skipped.append(name)
    return numeric, cats, skipped
