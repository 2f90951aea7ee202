"""The pure middle of the pipeline: domain values, the plan, the diff, and its execution."""
