"""reconciler: GitOps for the AI providers of ClaraVerse.

A providers.yaml is loaded into a ``Desired`` state, a target is observed into an
``Observed`` state, a pure diff turns the two into a ``Plan``, and the plan is rendered
or applied. See README.md for the user's manual.
"""

__version__ = "0.1.0"
