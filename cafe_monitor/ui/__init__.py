"""PyQt6 dashboard. The GUI thread only draws: the pipeline runs in a worker thread and
hands over its latest state by signal (latest-wins, never a queue)."""
