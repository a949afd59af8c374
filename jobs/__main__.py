"""``python -m jobs`` is ``ferry``: subprocesses start ferry with ``sys.executable -m jobs``."""

from jobs.cli import main

if __name__ == "__main__":
    main(prog_name="ferry")
