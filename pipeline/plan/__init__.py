"""Planning a run: the manifest joined with the result table, partition by partition
(:mod:`~pipeline.plan.planner`, :mod:`~pipeline.plan.partitions`), read ahead in a thread
(:mod:`~pipeline.plan.prefetch`), into the rows a worker receives (:mod:`~pipeline.plan.rows`)."""
