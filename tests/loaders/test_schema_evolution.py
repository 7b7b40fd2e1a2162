"""A newer contract's nullable column is added to an existing serving table by the next load
(inside the load's transaction, NULL in the rows already there); anything else that does not fit
the table is still refused before any write."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pytest

from dag_io import PostgresResource, TursoResource
from dag_io.loaders import LoadError


@dataclass(frozen=True)
class Spec:
    name: str
    dtype: pl.DataType
    nullable: bool = True


V1 = [Spec("id", pl.Int64(), False), Spec("name", pl.String())]
V2 = [*V1, Spec("note", pl.String()), Spec("score", pl.Float64())]
DBS = [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]


def frame(ids: list[int], **extra: list[object]) -> pl.DataFrame:
    data: dict[str, list[object]] = {"id": list(ids), "name": [f"n{i}" for i in ids], **extra}
    return pl.DataFrame(data, schema_overrides={"note": pl.String, "score": pl.Float64})


@pytest.mark.parametrize("db", DBS)
@pytest.mark.parametrize("mode", ["append", "upsert", "replace"])
def test_declared_nullable_columns_are_added(db, pg, turso_file, mode) -> None:
    target: PostgresResource | TursoResource = pg if db == "postgres" else turso_file
    target.load("evolving", frame([1, 2]), mode="replace", keys=["id"], columns=V1)
    newer = frame([3], note=["new"], score=[0.5])
    result = target.load("evolving", newer, mode=mode, keys=["id"], columns=V2)
    assert result.columns_added == ("note", "score")
    rows = target.read("evolving").sort("id")
    assert rows.columns == ["id", "name", "note", "score"]
    expected_ids = [3] if mode == "replace" else [1, 2, 3]
    assert rows["id"].to_list() == expected_ids
    assert rows.filter(pl.col("id") == 3).row(0) == (3, "n3", "new", 0.5)
    if mode != "replace":
        assert rows.filter(pl.col("id") < 3)["note"].to_list() == [None, None]
    # The next load finds the columns in place.
    again = target.load("evolving", newer, mode="upsert", keys=["id"], columns=V2)
    assert again.columns_added == ()


@pytest.mark.parametrize("db", DBS)
def test_a_failed_load_adds_no_column_and_undeclared_columns_are_refused(
    db, pg, turso_file
) -> None:
    target: PostgresResource | TursoResource = pg if db == "postgres" else turso_file
    target.load("evolving", frame([1, 2]), mode="replace", keys=["id"], columns=V1)
    # A duplicate key only shows inside the transaction (the table's own primary key on a
    # frame loaded without `keys`): the column added before it is rolled back with the load.
    duplicate = frame([1, 1], note=["a", "b"], score=[1.0, 2.0])
    with pytest.raises(LoadError, match="duplicate key"):
        target.load("evolving", duplicate, mode="append", columns=V2)
    assert target.read("evolving").columns == ["id", "name"]
    # A frame column outside the declared spec, or a new NOT NULL column, is refused.
    with pytest.raises(LoadError, match=r"frame columns not in the table: \['extra'\]"):
        target.load("evolving", frame([3], note=["x"], score=[1.0]).with_columns(extra=pl.lit(1)),
                    mode="append", keys=["id"], columns=V2)
    required = [*V1, Spec("note", pl.String(), nullable=False)]
    with pytest.raises(LoadError, match=r"frame columns not in the table: \['note'\]"):
        target.load("evolving", frame([3], note=["x"]), mode="append", keys=["id"],
                    columns=required)
    assert target.read("evolving").sort("id").rows() == [(1, "n1"), (2, "n2")]
