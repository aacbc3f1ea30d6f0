"""Tracking and the why attribution on Apache Spark: the lake in, spans (and so
departures) and per-post attribution out as Parquet.

Two grouped maps over the lake, each running :mod:`breakup.engines.groups` (that is,
:mod:`breakup.tracking` itself) per group:

1. observations, events and each account's own still-following re-checks, grouped by
   account and direction → spans, absence endings ``unknown``;
2. those spans grouped by account, cogrouped with the re-checks (made for any account) of
   the people whose span ended by an absence → end kinds named.

Results: ``OUT/spans/platform=…/account=…/part-*.parquet`` (departures are the spans of
direction ``followers`` with an end), read back by :func:`breakup.lake.read_spans`.

Then the why attribution (:func:`why`), grouped maps per own account over its rows and its
peers' (those spans, observations, events, posts, profiles) that run the embedded
engine's attribution itself (:mod:`breakup.engines.attribution`). As ``breakup why``, every
own account is in one Holm family: a first pass walks each account's heads (its most
extreme post, named and refitted in turn), the driver merges them into the family's
steps, and a second pass names each account's posts of those steps again and gives its
results (``--family account``: each account its own family, one pass, as ``breakup why
--account NAME``). Each account's share goes to ``OUT/why/account_id=…/part-*.parquet``;
:func:`breakup.engines.results.read_why` combines them (q-values, order) into the
attribution the embedded engine gives. Peers' rows go to every own account's group (a
peer's departures are compared in each own account's windows).

The same jobs run on a cluster: only the master changes (and breakup must be installed
where the executors run Python).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import StructType

from .. import lake
from ..errors import BreakupError
from . import results
from .attribution import HEADS, WHY_INPUT, WHY_OUT, Plan, heads_group, plan, why_group
from .groups import CHECKS, SPANS, TRACK_INPUT, classify_group, track_group

FAMILIES = ("all", "account")  # the Holm families the why attribution may take


class SparkUnavailable(BreakupError):
    """Spark cannot start here (no Java, most often); the message says why."""


def session(
    master: str = "local[2]", *, shuffle_partitions: int | None = None, app: str = "breakup"
) -> SparkSession:
    """A Spark session on *master*, without UI, with UTC times (:func:`conf`).

    Locally, the executors' Python is this interpreter (so they import this breakup),
    unless ``PYSPARK_PYTHON`` says otherwise; on a cluster it is the cluster's (breakup
    installed on the workers, ``spark.pyspark.python`` in its spark-defaults).
    """
    if is_local(master):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app)
    for key, value in conf(master, shuffle_partitions).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # py4j raises plain exceptions when the JVM cannot start
        raise SparkUnavailable(f"cannot start Spark ({master}): {_why(exc)}") from exc


def is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def conf(master: str, shuffle_partitions: int | None = None) -> dict[str, str]:
    """The settings breakup gives a session. Locally the driver listens on 127.0.0.1 only
    and shuffles into 4 partitions (a laptop's few cores); on a cluster (``spark://``,
    ``yarn``, ``k8s://``) the driver must be reachable from the workers and the cluster's
    own defaults (spark-defaults.conf) decide both: only ``--master`` changes."""
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if is_local(master):
        settings |= {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": str(shuffle_partitions or 4),
        }
    elif shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    return settings


@contextmanager
def running(master: str) -> Iterator[SparkSession]:
    """A session for one command: the active one if there is (left running), else a new
    one on *master*, stopped after."""
    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    spark = session(master)
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "JAVA_HOME" in text or ("java" in text.lower() and "not found" in text.lower()):
        return "no Java runtime (Spark needs Java 17 or later: apt install default-jre-headless)"
    return text[:300]


def _schema(arrow: pa.Schema) -> StructType:
    schema = from_arrow_schema(arrow)
    assert isinstance(schema, StructType)
    return schema


def _read(spark: SparkSession, root: Path, table: str) -> DataFrame | None:
    path = root / table
    if not path.is_dir() or not any(path.rglob("*.parquet")):
        return None
    return spark.read.option("basePath", str(path)).parquet(str(path))


def _cols(df: DataFrame, schema: StructType, **given: Column) -> DataFrame:
    """*df* with exactly the columns of *schema*: those it has, *given* ones, else nulls."""
    out = []
    for f in schema.fields:
        if f.name in given:
            col = given[f.name]
        elif f.name in df.columns:
            col = F.col(f.name)
        else:
            col = F.lit(None)
        out.append(col.cast(f.dataType).alias(f.name))
    return df.select(*out)


@dataclass
class TrackSummary:
    accounts: int
    spans: int
    departures: int
    seconds: float


def track(spark: SparkSession, lake_dir: Path, out: Path) -> TrackSummary:
    """Spans of every account in the lake, written under ``out/spans`` (replacing any)."""
    started = time.perf_counter()
    track_in = _schema(TRACK_INPUT)
    spans_schema = _schema(SPANS)
    accounts = spark.read.parquet(lake.table_glob(lake_dir, "accounts")).select(
        "account_id", F.col("name").alias("account"), "platform"
    )
    parts: list[DataFrame] = []
    if (obs := _read(spark, lake_dir, "observations")) is not None:
        parts.append(_cols(obs.drop("platform", "account"), track_in, rec=F.lit("obs"),
                           at=F.col("observed_at")))  # fmt: skip
    if (ev := _read(spark, lake_dir, "events")) is not None:
        parts.append(_cols(ev.drop("platform", "account"), track_in, rec=F.lit("event"),
                           at=F.col("occurred_at")))  # fmt: skip
    checks = _read(spark, lake_dir, "checks")
    if checks is not None:
        # The replay reads only the account's own re-checks finding the follow in place.
        mine = checks.where(F.col("state") == "active").where(F.col("follows"))
        parts.append(_cols(mine.drop("platform", "account"), track_in, rec=F.lit("check"),
                           at=F.col("checked_at"), direction=F.lit("followers")))  # fmt: skip
    if not parts:
        return TrackSummary(0, 0, 0, time.perf_counter() - started)
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)
    rows = _cols(
        rows.drop("platform", "account").join(F.broadcast(accounts), "account_id"), track_in
    )
    first = (
        rows.groupBy("account_id", "direction").applyInArrow(track_group, spans_schema).persist()
    )
    try:
        result = first
        if checks is not None:
            ended = (
                first.where(F.col("end_latest").isNotNull() & ~F.col("end_exact"))
                .select(F.col("account_id").alias("for_account"), "person_id")
                .distinct()
            )
            keyed = _cols(checks.join(ended, "person_id"), _schema(CHECKS))
            result = (
                first.groupBy("account_id")
                .cogroup(keyed.groupBy("for_account"))
                .applyInArrow(classify_group, spans_schema)
            )
        result.write.mode("overwrite").partitionBy("platform", "account").parquet(
            str(out / "spans")
        )
    finally:
        first.unpersist()
    n_accounts, n_spans, n_departures = lake.span_counts(out)
    return TrackSummary(n_accounts, n_spans, n_departures, time.perf_counter() - started)


@dataclass
class WhySummary:
    accounts: int  # own accounts attributed
    analysed: int  # of those, with enough history for the model
    posts_tested: int
    break_up_posts: int
    seconds: float
    failed: dict[str, str]  # accounts whose attribution raised: what it said


def why(
    spark: SparkSession,
    lake_dir: Path,
    out: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    family: str = "all",
) -> WhySummary:
    """The why attribution of every own account of the lake, from the spans :func:`track`
    wrote under ``out/spans``, written under ``out/why`` (replacing any); *since* and
    *until* as in ``breakup why``. Each own account is one group. *family* ``all``: one
    Holm family over every own account, as ``breakup why`` tests them (two passes: each
    account's heads, merged here into the family's steps, then each account's results);
    ``account``: each account its own family, as ``breakup why --account NAME``."""
    started = time.perf_counter()
    missing = [t for t in ("posts", "profiles") if t not in lake.read_manifest(lake_dir).tables]
    if missing:
        raise BreakupError(
            f"{lake_dir}: an older lake, without {' and '.join(missing)}: run "
            "`breakup lake export` on it once more (it adds them for every import)"
        )
    schema = _schema(WHY_INPUT)
    accounts = spark.read.parquet(lake.table_glob(lake_dir, "accounts"))
    own = accounts.where(F.col("role") == "own").select(F.col("account_id").alias("for_account"))
    peers = accounts.where(F.col("role") == "peer").select("account_id")
    # The accounts each group reads: the own account and every peer but itself.
    need = own.select("for_account", F.col("for_account").alias("account_id")).unionByName(
        own.crossJoin(peers).where(F.col("for_account") != F.col("account_id"))
    )
    need = F.broadcast(need)

    def mine(df: DataFrame) -> DataFrame:
        return df.drop("platform", "account").join(need, "account_id")

    spans = _read(spark, out, "spans")
    if spans is None:
        raise BreakupError(f"{out / 'spans'}: no spans (track the lake first)")
    spans = mine(spans.where(F.col("direction") == "followers"))
    parts = [
        _cols(accounts.join(need, "account_id"), schema, rec=F.lit("account")),
        _cols(spans, schema, rec=F.lit("span")),
    ]
    if (obs := _read(spark, lake_dir, "observations")) is not None:
        parts.append(_cols(mine(obs.drop("members")), schema, rec=F.lit("obs"),
                           at=F.col("observed_at")))  # fmt: skip
    if (ev := _read(spark, lake_dir, "events")) is not None:
        parts.append(_cols(mine(ev), schema, rec=F.lit("event"), at=F.col("occurred_at")))
    if (posts := _read(spark, lake_dir, "posts")) is not None:
        parts.append(_cols(mine(posts), schema, rec=F.lit("post"), at=F.col("created_at")))
    if (profiles := _read(spark, lake_dir, "profiles")) is not None:
        # Only the profiles of people whose span (in any account of the group) ended.
        ended = spans.where(F.col("end_latest").isNotNull()).select("for_account", "person_id")
        seen = profiles.drop("platform", "account", "account_id").join(
            ended.distinct(), "person_id"
        )
        parts.append(_cols(seen, schema, rec=F.lit("profile"), at=F.col("observed_at")))
    rows = parts[0]
    for p in parts[1:]:
        rows = rows.unionByName(p)

    if family not in FAMILIES:
        raise BreakupError(f"--family {family}: one of {', '.join(FAMILIES)}")
    rows = rows.persist()
    try:
        steps: Plan | None = None
        if family == "all":
            # Functions of their own, not partials: Spark infers the kind of map from the
            # hints.
            def walk(table: pa.Table) -> pa.Table:
                return heads_group(table, since, until)

            heads = rows.groupBy("for_account").applyInArrow(walk, _schema(HEADS))
            steps = plan(heads.toArrow().cast(HEADS))

        def group(table: pa.Table) -> pa.Table:
            return why_group(table, since, until, steps)

        result = rows.groupBy("for_account").applyInArrow(group, _schema(WHY_OUT))
        result.write.mode("overwrite").partitionBy("account_id").parquet(str(out / "why"))
    finally:
        rows.unpersist()
    counts = results.why_counts(out)
    failed = results.why_failures(out)
    return WhySummary(*counts, seconds=time.perf_counter() - started, failed=failed)
