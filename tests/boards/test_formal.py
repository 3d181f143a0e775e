"""Proofs of the board protocol on the command processor (SymbiYosys, bounded model check to a
depth that runs in CI): the stream rules on every output, idle out of reset, no configuration
write without a whole WRITE frame whose CRC checked, one reply per frame within a bounded number
of cycles. Each property is shown to fail on a deliberately broken copy."""

import pytest

from hw.layout import AcceleratorShape
from sim.formal import PROPERTIES, CommandProperties, prove

#: The smallest shape: 2-byte configuration words, an 8-byte frame buffer (a WRITE of one word
#: is 11 bytes, its write offered about 20 cycles in).
SHAPE = AcceleratorShape(sizes=(4, 3, 2), timesteps=2, lanes=1)
#: Cycles checked from reset: whole frames and their replies (a WRITE's write is offered from
#: about cycle 20 on).
DEPTH = 21


def test_the_command_processor_keeps_the_protocol(tmp_path):
    result = prove(CommandProperties(SHAPE), tmp_path, depth=DEPTH)
    assert result.passed, result.log[-3000:]


@pytest.mark.parametrize("prop", PROPERTIES)
def test_each_property_fails_on_a_broken_copy(tmp_path, prop):
    """Only ``prop`` asserted, on the processor behind a wrapper that breaks that rule: the
    check finds the counterexample (so the proof above is not vacuous)."""
    design = CommandProperties(SHAPE, properties=(prop,), broken=prop)
    result = prove(design, tmp_path, depth=DEPTH)
    assert not result.passed and "Assert failed" in result.log


def test_unknown_properties_are_refused():
    with pytest.raises(ValueError, match="broken must be one of"):
        CommandProperties(SHAPE, broken="liveness")
    with pytest.raises(ValueError, match=r"properties must be among .*\['fairness'\]"):
        CommandProperties(SHAPE, properties=("stream", "fairness"))
