"""dualsim, the tool: the ``dualsim`` command line (:mod:`dualsim.cli`), its sub-commands
(:mod:`dualsim.commands`) and the interactive page (:mod:`dualsim.app`).

It sits on top of the project: it uses :mod:`scenarios` (the experiments), :mod:`runner` (run,
checkpoint, report, sweep), :mod:`models` and :mod:`analysis`; none of them imports it.
"""

__all__: list[str] = []
