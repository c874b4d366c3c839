"""``bus demo`` shows every flow once, against real simulators, and exits cleanly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_every_flow(tmp_path: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "bus", "demo"],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "120"},
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    out = shown.stdout
    assert "navision: order 101001; bitrix24:" in out and "(delivered)" in out
    assert "unknown_item — the ERP has no item NOPE" in out
    assert "mail.set_password_link" in out and "set-password?user=" in out
    assert "storefront order DEMO-1: in_progress" in out
    assert "Delivery on " in out and "to 192 Market Square, Atlanta 31772." in out  # licence
    assert "'by_contract'" in out and out.count("mail.order_waiting   delivered") == 2
    assert "delivery_address request approved (ERP REQ-0001)" in out
    assert "storefront order A-1003: created_in_reserve, merged from ['A-1001', 'A-1002']" in out
    assert "navision: invoice INV-0001 → storefront (invoice-INV-0001.pdf" in out
    assert "done" in out
