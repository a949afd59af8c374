"""One library call per command: ``run`` (:mod:`~pipeline.commands.runner`), ``status``,
``verify`` (with :mod:`~pipeline.commands.links`), ``merge`` and ``report``."""
