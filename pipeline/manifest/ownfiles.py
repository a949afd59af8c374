"""Which files in a folder are ferry's own (result tables and what ferry keeps beside them).

A folder given as MANIFEST never uploads them, wherever ``--results`` points. One small
function on purpose: the result store will own this rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

_OWN_FILES: Final = re.compile(r"\.results\.(parquet|csv)(\.journal|\.lock)?$|^\.[^/]*\.tmp-\d+$")


def is_ferry_file(path: Path) -> bool:
    """True for a result table, its journal and lock, and ferry's temporary files."""
    return _OWN_FILES.search(path.name) is not None
