"""The late endpoints of a build, grouped (``boards.toolchain.late_endpoints``), on reports in
the shape of nextpnr's ``--detailed-timing-report``."""

import json

import pytest

from boards.toolchain.late_endpoints import LateGroup, cell_group, late_endpoints, main

CLOCK, LINK = "$glbnet$clk", "$glbnet$core.link_clk"


def endpoint(cell, port, arrival, clock=CLOCK):
    delay = [arrival - 0.1, arrival]
    return {"cell": cell, "port": port, "delay": delay, "event": f"posedge {clock}"}


def report(endpoints):
    return {
        "fmax": {
            CLOCK: {"achieved": 90.0, "constraint": 125.0},
            LINK: {"achieved": 70.0, "constraint": 50.0},
        },
        "detailed_net_timings": [{"net": "n", "driver": "d", "endpoints": endpoints}],
    }


def test_lanes_and_bits_are_one_group_per_port_and_blocks_keep_their_numbers():
    a = "core.logic.accelerator."
    late = late_endpoints(
        report(
            [
                endpoint(a + "layer1.acc_outreg_b1_TRELLIS_FF_Q_403", "M", 9.5),
                endpoint(a + "layer1.acc_outreg_b1_TRELLIS_FF_Q_17", "M", 8.5),
                endpoint(a + "layer0.acc_outreg_b1_TRELLIS_FF_Q_2", "M", 8.1),  # layer 0
                endpoint(a + "layer1.acc_outreg_b1_TRELLIS_FF_Q_9", "CE", 8.2),  # another port
                endpoint(a + "layer1.acc_outreg_b1_TRELLIS_FF_Q_4", "M", 7.9),  # in time: 8 ns
                endpoint("core.logic.command.word_TRELLIS_FF_Q_3", "DI", 19.0, LINK),  # 20 ns
                endpoint("core.logic.command.word_TRELLIS_FF_Q_4", "DI", 21.0, LINK),
            ]
        )
    )
    assert late == [
        LateGroup("layer1.acc_outreg_b#", "M", 2, 9.5, 8.0),
        LateGroup("core.logic.command.word", "DI", 1, 21.0, 20.0),
        LateGroup("layer1.acc_outreg_b#", "CE", 1, 8.2, 8.0),
        LateGroup("layer0.acc_outreg_b#", "M", 1, 8.1, 8.0),
    ]


@pytest.mark.parametrize(
    "cell, group",
    [
        ("layer1.accumulators1.column9.0.8$RAMW_SLICE", "layer1.accumulators#.column#.#.#"),
        ("layer0.serialiser.$signal_TRELLIS_FF_Q", "layer0.serialiser"),
        ("expander1.burst_LUT4_Z", "expander1.burst"),
        ("layer12.weights.3.0", "layer12.weights.#.#"),
    ],
)
def test_a_cell_group_cuts_the_mapping_suffix_and_numbers_lanes(cell, group):
    assert cell_group(cell) == group


def test_the_command_prints_the_groups_and_names_a_report_without_timings(tmp_path, capsys):
    path = tmp_path / "report.json"
    late_v = endpoint("core.logic.accelerator.layer1.v_TRELLIS_FF_Q", "DI", 9.0)
    path.write_text(json.dumps(report([late_v])))
    assert main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 endpoints miss their clock" in out and "in 1 groups" in out
    assert "     1       9.00       8.00  layer1.v .DI" in out
    path.write_text(json.dumps({"fmax": {}}))
    with pytest.raises(SystemExit):
        main([str(path)])
    assert "report.json: the report has no detailed net timings: build with --detailed-timing" in (
        capsys.readouterr().err
    )
