"""The converted dataset is plain hive-partitioned Parquet: other tools read the same values.

DuckDB SQL, pandas (through Polars and through pyarrow) and ``pyarrow.dataset``
with hive partitioning are each compared with the facade.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from nasbench_arrow import layout
from nasbench_arrow.api import NASBench

# The partition values are the hex digits "0".."f": declare them strings, or a
# reader that infers types may parse a dataset holding only buckets 0-9 as integers.
HIVE = pads.partitioning(pa.schema([(layout.BUCKET_COLUMN, pa.string())]), flavor="hive")


@pytest.fixture(scope="module")
def nb(converted_fixture):
    """The facade over the converted fixture."""
    return NASBench(converted_fixture.root, seed=0)


def _facade_runs(nb, h, epochs):
    """``[(repeat, final validation, final test, final training time)]`` of a cell from the facade."""
    return [
        (r, d["final_validation_accuracy"], d["final_test_accuracy"], d["final_training_time"])
        for r, d in enumerate(nb.computed_statistics[h][epochs])
    ]


def test_duckdb_sql_reads_the_same_runs(nb, converted_fixture):
    """DuckDB over ``runs/*/*.parquet`` with hive partitioning returns the facade's values."""
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (an optional interop check)")
    root = converted_fixture.root
    con = duckdb.connect()
    for h in converted_fixture.info.hashes[:10]:
        rows = con.execute(
            f"""
            SELECT repeat, final_validation_accuracy, final_test_accuracy, final_training_time
            FROM read_parquet('{root}/runs/*/*.parquet', hive_partitioning = true,
                              hive_types = {{'bucket': VARCHAR}})
            WHERE bucket = ? AND module_hash = ? AND epochs = 108
            ORDER BY repeat
            """,
            [h[0], h],
        ).fetchall()
        assert rows == _facade_runs(nb, h, 108)


def test_duckdb_aggregate_equals_facade_summary(nb, converted_fixture):
    """A GROUP BY mean in SQL equals ``NASBench.summary`` (numpy over the index) per cell."""
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (an optional interop check)")
    root = converted_fixture.root
    got = dict(
        duckdb.connect()
        .execute(
            f"""
            SELECT r.module_hash, avg(r.final_test_accuracy)
            FROM read_parquet('{root}/runs/*/*.parquet', hive_partitioning = true) r
            JOIN read_parquet('{root}/cells/*/*.parquet', hive_partitioning = true) c USING (module_hash)
            WHERE r.epochs = 108 AND c.trainable_parameters > 0
            GROUP BY r.module_hash
            """
        )
        .fetchall()
    )
    summary = nb.summary(108)
    assert len(got) == summary.height
    for h, mean in summary.select("module_hash", "test_accuracy").iter_rows():
        assert got[h] == pytest.approx(mean, rel=1e-12)


def test_pandas_through_polars_and_pyarrow_agree(nb, converted_fixture):
    """pandas frames made by Polars and by pyarrow hold the same cells table as the facade."""
    pytest.importorskip("pandas", reason="pandas is not installed (an optional interop check)")
    via_polars = nb.cells().drop(layout.BUCKET_COLUMN).collect().to_pandas()
    table = pads.dataset(converted_fixture.root / layout.CELLS_DIR, format="parquet", partitioning=HIVE).to_table()
    via_arrow = table.drop_columns([layout.BUCKET_COLUMN]).to_pandas()
    key = "module_hash"
    via_polars = via_polars.sort_values(key).reset_index(drop=True)
    via_arrow = via_arrow.sort_values(key).reset_index(drop=True)
    assert list(via_polars.columns) == list(via_arrow.columns) == layout.CELLS_SCHEMA.names
    assert via_polars[key].tolist() == via_arrow[key].tolist() == sorted(converted_fixture.info.hashes)
    assert via_polars["trainable_parameters"].tolist() == via_arrow["trainable_parameters"].tolist()
    for row in via_arrow.itertuples():
        fixed = nb.fixed_statistics[row.module_hash]
        assert list(row.operations) == fixed["module_operations"]
        assert [int(b) for b in row.adjacency] == fixed["module_adjacency"].ravel().tolist()
        assert row.trainable_parameters == fixed["trainable_parameters"]


def test_pyarrow_dataset_hive_filter_prunes_to_one_bucket(nb, converted_fixture):
    """A filter on ``bucket`` leaves one file to read; its rows equal the facade's runs of the cell."""
    ds = pads.dataset(converted_fixture.root / layout.RUNS_DIR, format="parquet", partitioning=HIVE)
    h = converted_fixture.info.hashes[5]
    bucket = pads.field(layout.BUCKET_COLUMN) == layout.bucket_of(h)
    files = [f.path for f in ds.get_fragments(filter=bucket)]
    assert len(files) == 1 and f"{layout.BUCKET_COLUMN}={h[0]}" in files[0]
    table = ds.to_table(
        filter=bucket & (pads.field("module_hash") == h) & (pads.field("epochs") == 36),
        columns=["repeat", "final_validation_accuracy", "final_test_accuracy", "final_training_time"],
    )
    rows = sorted(tuple(r.values()) for r in table.to_pylist())
    assert rows == _facade_runs(nb, h, 36)


def test_parquet_files_are_self_describing(converted_fixture):
    """Every data file has the documented schema and carries the format metadata."""
    import json

    for table, schema in ((layout.CELLS_DIR, layout.CELLS_SCHEMA), (layout.RUNS_DIR, layout.RUNS_SCHEMA)):
        for path in sorted((converted_fixture.root / table).glob("bucket=*/*.parquet")):
            pf = pq.ParquetFile(path)
            assert pf.schema_arrow.remove_metadata().equals(schema, check_metadata=False), path
            meta = json.loads(pf.schema_arrow.metadata[layout.METADATA_KEY])
            assert meta["format_version"] == layout.FORMAT_VERSION
