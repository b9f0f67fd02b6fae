"""Spark Connect sessions stopped by the project (`catalog.spark.stop`) leave the release thread
pool that every session of the process shares alone when they are garbage-collected later.

pyspark 4.0 closes a session's client again in `SparkSession.__del__`, and closing a client
shuts down that shared pool: a stopped session collected in the middle of another session's job
made that job fail with "cannot schedule new futures after shutdown" (once in this project's
tests; SPARK-55406). A real Spark Connect server."""

from __future__ import annotations

from pyspark.sql.connect.client.reattach import ExecutePlanResponseReattachableIterator as Iterator

from catalog import spark


def test_a_stopped_session_collected_later_leaves_the_shared_pool_running(spark_remote, settings):
    settings.SPARK_REMOTE = spark_remote
    done = spark.session()
    assert done.sql("SELECT 1 AS one").collect()[0].one == 1
    spark.stop(done)
    running = spark.session()
    try:
        assert running.sql("SELECT 2 AS two").collect()[0].two == 2
        pool = Iterator._release_thread_pool_instance
        assert pool is not None
        done.__del__()  # what the garbage collector does with it, at any moment
        assert Iterator._release_thread_pool_instance is pool and not pool._shutdown
        assert running.sql("SELECT 3 AS three").collect()[0].three == 3
    finally:
        spark.stop(running)
