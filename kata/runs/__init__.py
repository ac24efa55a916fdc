"""The run machinery, one module per concern. Nothing is imported here: a light importer (the consumer, which needs
only a group name) does not pull in the execution stack.

- `publish`: the channel contract: a run's group name, the publisher, the status message.
- `lease`: who holds a run and when its holder is presumed dead (the one clock of a run's liveness), the claim, the
  heartbeat, the sweep and the expiry of runs nobody will finish.
- `frames`: a run's live frames: saved, published, downsampled, pruned.
- `execute`: one execution: claim, simulate (a strategy passed in), stream, grade, save.
- `seeds`: the strategies that simulate a run's seeds (in the warm pool, or here), and grading a design on seeds.
- `pool`: the warm pool of seed processes (no Django).
- `submit`: where a run executes: a thread of the web process, or a Celery task.
- `worker`: the Celery worker process's set-up; `kata/tasks.py` holds the task definitions.
"""
