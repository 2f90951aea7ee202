"""``reconcile watch``: drift, continuously.

    loop      every interval: read the files, observe, plan; report drift, or heal it
    state     what a run found (Snapshot), built from the plan's own words
    heal      the plan applied as apply would, judged as apply judges it
    guard     a target whose writes stop starting once the watch is stopping
    logs      one line per event, text or JSON, scrubbed
    metrics   the Prometheus metrics, in a registry of their own
    page      the read-only status page (HTML, no JavaScript)
    server    --listen: /, /healthz, /readyz, /metrics
    webhook   one POST per change of state, shaped for Slack
    service   all of it started and stopped together

It uses the same pieces as plan and apply (``config.load``, ``core.diff.make_plan``,
``core.execute.converge``, ``output.render``), so that a watch sees and heals exactly
what they would.
"""
