"""The commands: one module per command, each a typed function that returns an exit code.

    validate  plan  apply  export  serve  token      common: what several of them use

A command takes plain values (files, a target URL, ``TargetOptions``, the diff's
``Options``) and a ``Console`` to write to; it raises ``ReconcilerError`` for what a user
can fix. ``reconciler.cli`` parses the command line, calls one of them, and turns what
it raises into a message and an exit code.
"""
