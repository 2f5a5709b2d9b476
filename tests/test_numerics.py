"""The overflow lab (the notes' exercises 1-3): naive softmax and cross-entropy vs LogSumExp."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from tui_trainer.labs.numerics import compare, parse_logits, report


def test_numerics_overflow_log0_and_agreement():
    c = compare([1000.0, 0.0, -1000.0], 0)
    assert math.isnan(c.naive_softmax[0]) and "overflowed" in c.verdict
    assert c.stable_softmax == pytest.approx([1.0, 0.0, 0.0])
    assert c.stable_loss == pytest.approx(c.torch_loss) and math.isfinite(c.stable_loss)
    c = compare([0.0, -200.0], 1)   # exp(-200) underflows to 0 in float32: log(0)
    assert math.isinf(c.naive_loss) and "inf" in c.verdict
    assert c.stable_loss == pytest.approx(200.0) and c.torch_loss == pytest.approx(200.0)
    c = compare([1.0, 2.0, 3.0], 2)
    assert c.naive_loss == pytest.approx(c.stable_loss, rel=1e-6)
    assert "agree" in report(c)
    with pytest.raises(ValueError, match="not a number"):
        parse_logits("1, x")


@pytest.mark.process
def test_numerics_command():
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "numerics", "--logits", "0,-200",
                        "--label", "1"], capture_output=True, text=True)
    assert r.returncode == 0 and "naive cross-entropy is inf" in r.stdout
    r = subprocess.run([sys.executable, "-m", "tui_trainer", "numerics", "--label", "7"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("smtui: error:")
