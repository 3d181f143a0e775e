"""NIR import and export (docs/nir.md): the mapping, peer conventions and bugs, errors, and the
peer tests with snnTorch (a net trained there runs bit-exact here; ours runs the same there)."""

import subprocess
import sys
import warnings

import nir  # the [nir] extra, which the test setup installs
import numpy as np
import pytest
import snntorch as snn
import torch

from sim.runner import run_cosim
from stablespike.main import main
from sw import golden, integer_model
from sw.data import load_dataset
from sw.modelfile import load_model, save_model
from sw.nir_exchange.graph import SNNTORCH_DT, NIRError, chain_from_graph
from sw.nir_exchange.peers import (
    peer_accuracy,
    train_snntorch_mlp,
    train_spikingjelly_mlp,
    write_peer_nir,
)
from sw.nir_exchange.reader import calibrate, contract_net, import_nir, reference_forward
from sw.nir_exchange.writer import graph_of_layers, layers_of_net
from sw.snn import SpikingNet
from sw.train import fixed_batches

from ..random_models import random_model


def lif(n, *, tau=SNNTORCH_DT * 4, r=4.0, threshold=1.0, v_reset=0.0, v_leak=0.0):
    ones = np.ones(n)
    return nir.LIF(
        tau=ones * tau, r=ones * r, v_leak=ones * v_leak, v_threshold=ones * threshold,
        v_reset=ones * v_reset,
    )  # fmt: skip


def chain_graph(*nodes, input_shape, metadata=None):
    named = {"input": nir.Input(input_type={"input": np.array(input_shape)})}
    named.update({f"n{i}": node for i, node in enumerate(nodes)})
    named["output"] = nir.Output(output_type={"output": np.array([1])})
    names = list(named)
    return nir.NIRGraph(
        nodes=named,
        edges=list(zip(names[:-1], names[1:])),
        metadata=metadata or {},
        type_check=False,
    )


def small_graph(rng, *, tau=SNNTORCH_DT * 4, metadata=None):
    w0, b0 = rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.2, 6)
    w1, b1 = rng.normal(0, 0.5, (3, 6)), rng.normal(0, 0.2, 3)
    return chain_graph(
        nir.Affine(weight=w0, bias=b0),
        lif(6, tau=tau, r=tau / SNNTORCH_DT),
        nir.Affine(weight=w1, bias=b1),
        input_shape=[5],
        metadata=metadata,
    )


# -- the mapping ----------------------------------------------------------------------------


def test_lif_with_power_of_two_tau_is_the_contract_exactly():
    """tau = dt 2^k, r = 2^k is the contract's LIF: our float net's spikes equal NIR's
    equations (reference) on every sample, and the biases are kept (nirtorch 2.6's default
    Affine map replaces them with random ones; this importer never uses it)."""
    rng = np.random.default_rng(0)
    graph = small_graph(rng)
    chain = chain_from_graph(graph)
    assert chain.dt == SNNTORCH_DT and chain.stages[0][1].leak[0] == pytest.approx(0.25)
    net, notes = contract_net(chain, (5,))
    raw, _ = contract_net(chain, (5,), normalise=False)
    assert net.leak_shifts == [2] and not any("approximated" in n for n in notes)
    np.testing.assert_allclose(
        net.synapses[0].bias.detach().numpy(), graph.nodes["n0"].bias, rtol=1e-6
    )
    spikes = torch.from_numpy(rng.random((64, 6, 5)) < 0.5).float()
    ref = reference_forward(chain, raw, spikes)
    ours = net(spikes)
    assert ref["spikes"][0].sum() > 0
    assert torch.equal(ref["spikes"][0].bool(), ours["spikes"][0].bool())
    assert torch.equal(ref["scores"].argmax(1), ours["logits"].argmax(1))


def test_calibration_chooses_scales_that_fire_like_the_reference():
    """One outlier weight makes max|W| a poor int4 scale; calibration on data clips it and the
    integer layer fires more like NIR's equations than with max|W|."""
    rng = np.random.default_rng(9)
    w0 = rng.normal(0, 0.3, (40, 30))
    w0[0, 0] = 3.0
    graph = chain_graph(
        nir.Affine(weight=w0, bias=np.zeros(40)),
        lif(40),
        nir.Affine(weight=rng.normal(size=(3, 40)), bias=np.zeros(3)),
        input_shape=[30],
    )
    chain = chain_from_graph(graph)
    net, _ = contract_net(chain, (30,))
    raw, _ = contract_net(chain, (30,), normalise=False)
    spikes = torch.from_numpy(rng.random((256, 4, 30)) < 0.3).float()
    reference = reference_forward(chain, raw, spikes)["spikes"][0].bool()

    def agreement(clip):
        net.quantize(weight_bits=4, clip=clip)
        with torch.no_grad():
            return float((net(spikes)["spikes"][0].bool() == reference).float().mean())

    clip = calibrate(net, chain, raw, spikes, weight_bits=4, membrane_bits=16)
    assert clip[0] < 1.0 and clip[-1] == 1.0
    assert agreement(clip) > agreement(None) + 0.01


def test_nirtorch_default_affine_map_loses_the_bias():
    """The peer bug the test above guards against, shown on nirtorch 2.6 itself."""
    from nirtorch.nir_interpreter import _default_map_affine

    node = nir.Affine(weight=np.ones((2, 3), np.float32), bias=np.array([5.0, -5.0], np.float32))
    assert not torch.allclose(_default_map_affine(node).bias, torch.tensor([5.0, -5.0]))


def test_conv_channels_and_position_major_numbering():
    """A conv with C_in != C_out (nirtorch 2.6 swaps them on import), sum pooling before a
    conv, then a dense layer on the conv's chw-flattened output: the contract net (position
    -major neurons) fires exactly as NIR's equations do."""
    rng = np.random.default_rng(1)
    conv0 = nir.Conv2d(
        input_shape=(8, 8), weight=rng.normal(0, 0.6, (3, 2, 3, 3)), stride=1, padding=1,
        dilation=1, groups=1, bias=rng.normal(0, 0.1, 3),
    )  # fmt: skip
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.zeros(2))
    conv1 = nir.Conv2d(
        input_shape=(4, 4), weight=rng.normal(0, 0.6, (4, 3, 3, 3)), stride=2, padding=1,
        dilation=1, groups=1, bias=rng.normal(0, 0.1, 4),
    )  # fmt: skip
    graph = chain_graph(
        conv0,
        lif((3, 8, 8)),
        pool,
        conv1,
        lif((4, 2, 2)),
        nir.Flatten(input_type={"input": np.array([4, 2, 2])}, start_dim=0),
        nir.Affine(weight=rng.normal(0, 1, (5, 16)), bias=np.zeros(5)),
        input_shape=[2, 8, 8],
    )
    chain = chain_from_graph(graph)
    net, _ = contract_net(chain, (2, 8, 8))
    raw, _ = contract_net(chain, (2, 8, 8), normalise=False)
    assert [g.in_shape for g in net.geometry] == [(2, 8, 8), (3, 8, 8)]
    assert net.geometry[1].pool == 2 and net.synapses[0].weight.shape == (3, 2, 3, 3)
    spikes = torch.from_numpy(rng.random((32, 3, 128)) < 0.4).float()
    ref, ours = reference_forward(chain, raw, spikes), net(spikes)
    for a, b in zip(ref["spikes"], ours["spikes"]):
        assert a.sum() > 0 and torch.equal(a.bool(), b.bool())
    # one timestep from rest, checked against torch's own ops on NIR's chw tensors: every
    # layer fires when its current passes the threshold, and the readout reads chw order
    one = spikes[:, :1]
    x = one[:, 0].reshape(-1, 2, 8, 8).double()
    w0, b0, w1, b1 = (
        torch.from_numpy(a) for a in (conv0.weight, conv0.bias, conv1.weight, conv1.bias)
    )
    s1 = (torch.nn.functional.conv2d(x, w0, b0, 1, 1) > 1).double()
    counts = torch.nn.functional.avg_pool2d(s1, 2) * 4
    s2 = (torch.nn.functional.conv2d(counts, w1, b1, 2, 1) > 1).double().reshape(len(x), -1)
    readout = graph.nodes["n6"]
    direct = s2 @ torch.from_numpy(readout.weight).T + torch.from_numpy(readout.bias)
    ref = reference_forward(chain, raw, one)
    assert s2.sum() > 0
    torch.testing.assert_close(ref["scores"], direct)
    torch.testing.assert_close(net(one)["logits"].double(), direct, rtol=1e-5, atol=1e-5)
    from nirtorch.nir_interpreter import _default_map_conv2d

    assert _default_map_conv2d(conv0).in_channels == 3  # swapped: C_out, not C_in


def test_leak_and_time_step_conventions():
    rng = np.random.default_rng(2)
    # tau not a power of two of dt: approximated, with a note
    chain = chain_from_graph(small_graph(rng, tau=SNNTORCH_DT * 3))
    net, notes = contract_net(chain, (5,))
    assert net.leak_shifts == [2] and any("approximated by 2^-2" in n for n in notes)
    # no snnTorch signature and no metadata: the time step must be given
    graph = small_graph(rng)
    graph.nodes["n1"].r = graph.nodes["n1"].r * 2
    with pytest.raises(NIRError, match="pass --dt"):
        chain_from_graph(graph)
    assert chain_from_graph(graph, dt=2e-4).dt == 2e-4
    # IF: dv/dt = r I, so r = 1 / dt is a gain of 1 (SpikingJelly's and snnTorch's reading)
    w = rng.normal(size=(6, 5))
    graph = chain_graph(
        nir.Affine(weight=w, bias=np.zeros(6)),
        nir.IF(r=np.full(6, 1 / 2e-4), v_threshold=np.full(6, 2.0)),
        nir.Affine(weight=rng.normal(size=(3, 6)), bias=np.zeros(3)),
        input_shape=[5],
        metadata={"dt": 2e-4},
    )
    net, notes = contract_net(chain_from_graph(graph), (5,))
    assert net.leak_shifts == [15] and any("does not leak" in n for n in notes)
    np.testing.assert_allclose(net.synapses[0].weight.detach().numpy(), w / 2.0, rtol=1e-6)
    # the file's metadata wins over the signature
    meta = chain_from_graph(small_graph(rng, metadata={"dt": 2e-4}))
    assert meta.dt == 2e-4 and meta.stages[0][1].leak[0] == pytest.approx(0.5)


def test_norse_tau_is_corrected():
    """Norse 1.1's to_nir writes tau as dt / tau_mem_inv (= dt * tau) and r = 1: read as NIR,
    the leak per step is 250 (refused); with --peer norse, tau = 4 ms at its default dt = 1 ms
    is the contract's k = 2."""
    rng = np.random.default_rng(3)
    graph = small_graph(rng, tau=1e-3 * 4e-3)  # Norse's default dt, 1 ms, not in the file
    graph.nodes["n1"].r = np.ones(6)
    with pytest.raises(NIRError, match="below the time step"):
        chain_from_graph(graph, dt=1e-3)
    chain = chain_from_graph(graph, peer="norse")
    assert chain.dt == 1e-3
    net, _ = contract_net(chain, (5,))
    assert net.leak_shifts == [2]


def test_snntorch_reset_mode_is_a_flag():
    """snnTorch 1.0 writes v_reset = 0 whatever the Leaky's reset_mechanism: --reset subtract
    restores it (NIR itself has no subtract reset)."""
    chain = chain_from_graph(small_graph(np.random.default_rng(4)), reset="subtract")
    net, _ = contract_net(chain, (5,))
    assert net.reset == "subtract"


@pytest.mark.parametrize(
    "node, message",
    [
        (
            nir.CubaLIF(
                tau_syn=np.ones(6),
                tau_mem=np.ones(6),
                r=np.ones(6),
                v_leak=np.zeros(6),
                v_threshold=np.ones(6),
            ),
            "CubaLIF, which the accelerator cannot run",
        ),  # fmt: skip
        (nir.Delay(delay=np.ones(6)), "Delay"),
    ],
)
def test_unsupported_nodes_are_named(node, message):
    rng = np.random.default_rng(5)
    graph = chain_graph(
        nir.Affine(weight=rng.normal(size=(6, 5)), bias=np.zeros(6)),
        node,
        lif(6),
        nir.Affine(weight=rng.normal(size=(3, 6)), bias=np.zeros(3)),
        input_shape=[5],
    )
    with pytest.raises(NIRError, match=message):
        chain_from_graph(graph)


def test_padded_sum_pooling_is_refused():
    """nirtorch 2.6 ignores SumPool2d's padding; the contract has none, so it is refused."""
    rng = np.random.default_rng(7)
    graph = chain_graph(
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.ones(2)),
        nir.Conv2d(
            input_shape=(4, 4),
            weight=rng.normal(size=(2, 1, 3, 3)),
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=np.zeros(2),
        ),  # fmt: skip
        lif((2, 4, 4)),
        input_shape=[1, 8, 8],
    )
    with pytest.raises(NIRError, match="'n0' .SumPool2d.: kernel 2, stride 2, padding 1"):
        chain_from_graph(graph)


def test_threshold_only_on_the_binary_input():
    rng = np.random.default_rng(10)
    layers = (
        nir.Affine(weight=rng.normal(size=(6, 5)), bias=np.zeros(6)),
        lif(6),
        nir.Affine(weight=rng.normal(size=(3, 6)), bias=np.zeros(3)),
    )
    chain = chain_from_graph(chain_graph(nir.Threshold(np.full(5, 0.5)), *layers, input_shape=[5]))
    assert len(chain.stages) == 1 and any("is the identity" in n for n in chain.notes)
    with pytest.raises(NIRError, match="only 0 <= threshold < 1"):
        chain_from_graph(chain_graph(nir.Threshold(np.full(5, 1.5)), *layers, input_shape=[5]))
    after = chain_graph(layers[0], nir.Threshold(np.full(6, 0.5)), *layers[1:], input_shape=[5])
    with pytest.raises(NIRError, match="a spike function without a membrane"):
        chain_from_graph(after)


def test_recurrence_and_branches_are_named():
    graph = small_graph(np.random.default_rng(6))
    graph.edges.append(("n1", "n0"))
    with pytest.raises(NIRError, match="feeds 2 nodes"):
        chain_from_graph(graph)
    graph.edges[:] = [("input", "n0"), ("n0", "n1"), ("n1", "n0")]
    with pytest.raises(NIRError, match="recurrent edge 'n1' -> 'n0'"):
        chain_from_graph(graph)


def test_core_works_without_nir(tmp_path):
    """Without the [nir] extra the CLI runs and 'import' names the missing extra."""
    code = (
        "import sys; sys.modules['nir'] = None\n"
        "from stablespike.main import main\n"
        f"main(['import', 'x.nir', '--dataset', 'digits', '--out', r'{tmp_path / 'm.npz'}'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2
    assert "pip install 'stablespike[nir]'" in done.stderr and "Traceback" not in done.stderr


def exported_net(shape, arch, *, leak_shift=2, gain=3.0, seed=0):
    """A float net of ours with weights scaled up by ``gain`` (so that every layer fires) and
    its NIR graph."""
    torch.manual_seed(seed)
    net = SpikingNet(shape, 10, arch, leak_shift=leak_shift)
    with torch.no_grad():
        for module in net.synapses:
            module.weight.mul_(gain)
    layers, readout = layers_of_net(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        graph, _ = graph_of_layers(shape, layers, readout)
    return net, graph


# -- peer tests with snnTorch ---------------------------------------------------------------

T = 4


@pytest.fixture(scope="module")
def snntorch_import(tmp_path_factory):
    from snntorch.export_nir import export_to_nir

    root = tmp_path_factory.mktemp("snntorch")
    net, dataset = train_snntorch_mlp("digits", hidden=32, timesteps=T, epochs=3)
    accuracy = peer_accuracy(net, dataset, T)
    nir.write(root / "peer.nir", export_to_nir(net, torch.zeros(64)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = import_nir(
            root / "peer.nir", "digits", root / "peer.npz", timesteps=T, progress=False
        )
    return summary, accuracy, root


def test_snntorch_net_imports_within_a_point(snntorch_import):
    summary, accuracy, _ = snntorch_import
    assert accuracy > 0.6
    assert summary["golden_equals_torch"]
    # NIR's equations with snnTorch's dt reproduce snnTorch's own forward, and the
    # contract's LIF (beta 0.75 = 1 - 2^-2) reproduces those spikes exactly
    assert summary["reference_accuracy"] == accuracy
    assert summary["float_vs_reference"]["spikes"] == [1.0, 1.0]
    assert summary["leak_shifts"] == [2, 2] and summary["dt"] == SNNTORCH_DT
    assert abs(summary["golden_accuracy"] - accuracy) <= 0.01
    assert min(summary["golden_vs_reference"]["spikes"]) > 0.98


def test_spikingjelly_net_imports_within_a_point(tmp_path):
    """A SpikingJelly 2.0 net (LIFNode tau 4, decay_input=False) exported with its own
    export_to_nir: NIR's equations give SpikingJelly's accuracy, the contract fires exactly
    as they do, the golden model is within a point."""
    net, dataset = train_spikingjelly_mlp("digits", hidden=32, timesteps=T, epochs=2)
    accuracy = peer_accuracy(net, dataset, T)
    write_peer_nir(net, dataset, tmp_path / "sj.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = import_nir(
            tmp_path / "sj.nir", "digits", tmp_path / "sj.npz", timesteps=T, progress=False
        )
    assert accuracy > 0.6 and summary["reference_accuracy"] == accuracy
    assert summary["float_vs_reference"]["spikes"] == [1.0, 1.0]
    assert summary["leak_shifts"] == [2, 2]
    assert abs(summary["golden_accuracy"] - accuracy) <= 0.01


def test_snntorch_net_is_bit_exact_on_the_rtl(snntorch_import, tmp_path):
    summary, _, root = snntorch_import
    result = run_cosim(root / "peer.npz", simulator="verilator", samples=60, stall=0.2,
                       build_dir=tmp_path, tests=("inference",))  # fmt: skip
    inference = result.inference
    assert inference["samples"] == 60 and inference["errors"] == 0


def test_our_net_runs_the_same_in_snntorch(tmp_path):
    """Our float net exported to NIR and imported by snnTorch 1.0 fires as our float forward
    does, layer by layer, and gives the same classes (the scores summed over time)."""
    from snntorch.import_nir import import_from_nir

    net, graph = exported_net((1, 8, 8), "mlp:32,16")
    nir.write(tmp_path / "ours.nir", graph)
    peer = import_from_nir(nir.read(tmp_path / "ours.nir"))
    recorded = []
    leakies = [m for m in peer.modules() if isinstance(m, snn.Leaky)]
    assert len(leakies) == 2
    for m in leakies:
        m.register_forward_hook(
            lambda mod, args, out: recorded.append(out[0] if isinstance(out, tuple) else out)
        )
    dataset = load_dataset("digits", 2)
    spikes = next(fixed_batches(dataset, "test", 128, 2, 1))[0]
    x = torch.from_numpy(spikes).float()
    ours = net(x)
    from snntorch import utils as snn_utils

    snn_utils.reset(peer)
    scores = 0
    with torch.no_grad():
        for t in range(2):
            out = peer(x[:, t])
            scores = scores + (out[0] if isinstance(out, tuple) else out)
    for i in range(2):
        theirs = torch.stack([recorded[2 * t + i] for t in range(2)])
        assert ours["spikes"][i].sum() > 0
        assert torch.equal(theirs.bool(), ours["spikes"][i].bool())
    assert torch.equal(scores.argmax(1), ours["logits"].argmax(1))


@pytest.mark.parametrize(
    "arch, shape", [("mlp:32,16", (1, 8, 8)), ("conv:6s1,pool2,8,fc12", (2, 8, 8))]
)
def test_our_nets_run_the_same_in_spikingjelly(arch, shape, tmp_path):
    """SpikingJelly 2.0's NIR reader (single-step mode) takes our MLPs and conv nets (sum
    pooling, a dense layer after the convs) and fires as our float forward does, layer by
    layer, with the same classes."""
    from spikingjelly.activation_based import neuron
    from spikingjelly.activation_based.nir_exchange.from_nir import (
        _NIRStatefulModule,
        import_from_nir,
    )

    net, graph = exported_net(shape, arch)
    nir.write(tmp_path / "ours.nir", graph)
    peer = import_from_nir(tmp_path / "ours.nir", dt=SNNTORCH_DT, step_mode="s")
    recorded = []
    for module in peer.modules():  # SpikingJelly wraps each neuron to pass its state
        if isinstance(module, _NIRStatefulModule) and isinstance(module.module, neuron.BaseNode):
            module.register_forward_hook(lambda mod, args, out: recorded.append(out[0]))
    T, n = 3, int(np.prod(shape))
    x = torch.from_numpy(np.random.default_rng(1).random((64, T, n)) < 0.4).float()
    ours = net(x)
    state, scores = None, 0
    with torch.no_grad():
        for t in range(T):
            out, state = peer(
                x[:, t].reshape(64, *shape) if arch.startswith("conv") else x[:, t], state
            )
            scores = scores + out
    assert len(recorded) == T * len(net.synapses)
    for i in range(len(net.synapses)):
        theirs = torch.stack(recorded[i :: len(net.synapses)])
        if theirs.dim() == 5:  # [T, B, C, H, W] -> position-major
            theirs = theirs.permute(0, 1, 3, 4, 2)
        assert ours["spikes"][i].sum() > 0
        assert torch.equal(theirs.reshape(T, 64, -1).bool(), ours["spikes"][i].bool())
    assert torch.equal(scores.argmax(1), ours["logits"].argmax(1))


def test_export_then_import_is_the_same_float_net():
    """A conv net with pooling and a dense layer after its convs, exported to NIR and read
    back, is the same net: the same spikes in every layer, the same scores."""
    net, graph = exported_net((2, 8, 8), "conv:6s1,pool2,8,fc12", leak_shift=[1, 2, 3],
                              gain=4.0, seed=3)  # fmt: skip
    back, _ = contract_net(chain_from_graph(graph), (2, 8, 8))
    spikes = torch.from_numpy(np.random.default_rng(8).random((64, 3, 128)) < 0.3).float()
    a, b = net(spikes), back(spikes)
    assert back.leak_shifts == [1, 2, 3] and [g and g.pool for g in back.geometry] == [1, 2, None]
    for x, y in zip(a["spikes"], b["spikes"]):
        assert x.sum() > 0 and torch.equal(x, y)
    torch.testing.assert_close(a["logits"], b["logits"], rtol=1e-5, atol=1e-5)


def test_cli_round_trip_of_a_model_file(tmp_path):
    """export-nir of an integer model, then import (re-quantised from the NIR floats): the
    classes agree on at least 97 % of the test split."""
    model = random_model(sizes=(64, 20, 10), timesteps=2, threshold=60)
    model.input_shape = (1, 8, 8)
    model.encoder = integer_model.InputEncoder.rate(seed=1)
    model.meta = {"dataset": "digits"}
    save_model(model, tmp_path / "m.npz")
    main(["export-nir", str(tmp_path / "m.npz"), "--out", str(tmp_path / "m.nir")])
    main(["import", str(tmp_path / "m.nir"), "--dataset", "digits", "--out",
          str(tmp_path / "back.npz"), "--quiet"])  # fmt: skip
    back = load_model(tmp_path / "back.npz")
    data = load_dataset("digits", 2)
    a = golden.run(model, data.test_x).predictions
    b = golden.run(back, data.test_x).predictions
    assert np.mean(a == b) > 0.97
