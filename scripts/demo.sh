#!/usr/bin/env bash
# Set up (if needed), then train the demo net three ways: the baseline, full Stable Spike and
# Stable Spike's spike-consistency term alone (the recommended setting, README). Export each to
# an integer model file. Carry the recommended one through the whole flow: evaluate it on the
# golden model, generate the accelerator's Verilog and simulate it with cocotb against the
# golden model on Verilator (whole test split, with stalls) and Icarus, build its ULX3S-85F and
# iCEBreaker bitstreams (the iCEBreaker's from a 24 MHz PLL with a 3 Mbaud UART), and load, read
# back and run the whole test split on the simulated board: the board's logic on its UART pins
# in Verilator, with a host UART on the other end. The net also goes out as NIR (what snnTorch,
# SpikingJelly, Norse... read) and comes back in as a peer's net would. Then the same for a
# convolutional net on event data (conv layers with shared kernels, in the model file and in
# the accelerator): train, export, simulate, build for the ULX3S at 120 MHz, run on the
# simulated board. The demo ends with the three digits nets side by side: accuracy, firing,
# synaptic events and RTL cycles per inference (runs/demo/sparsity-digits-demo.md), and then
# the same flow on real sensor data: a conv net trained on real N-MNIST recordings (read from
# $STABLESPIKE_NMNIST, default ../shared/data/nmnist-small; skipped with a note when absent),
# its int8 golden accuracy, the RTL bit-exact on every held-out recording, and inferences/s on
# the simulated ULX3S at 120 MHz.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ss=.venv/bin/stablespike
set -x
for method in baseline stablespike spike-only; do
    $ss train --dataset digits --method $method --timesteps 2 --epochs 30 --seed 0 --out runs/digits-$method
    $ss export runs/digits-$method --weight-bits 8 --out models/digits-$method.npz
done
$ss eval models/digits-spike-only.npz --engine golden
$ss eval models/digits-spike-only.npz --engine golden --mode skeleton
$ss eval runs/digits-spike-only --engine float
$ss rtl models/digits-spike-only.npz --lanes 8 --out build/rtl
$ss sim models/digits-spike-only.npz --simulator verilator --samples 450 --stall 0.3
$ss sim models/digits-spike-only.npz --simulator verilator --samples 450 --mode noise
$ss sim models/digits-spike-only.npz --simulator icarus --samples 50 --stall 0.3
$ss build models/digits-spike-only.npz --board ulx3s-85f
$ss build models/digits-spike-only.npz --board icebreaker --clock-mhz 24 --baud 3000000
$ss deploy models/digits-spike-only.npz --board icebreaker --sim --clock-mhz 24 --baud 3000000
$ss export-nir runs/digits-spike-only --out runs/digits-spike-only.nir
$ss import runs/digits-spike-only.nir --dataset digits --out models/digits-spike-only-nir.npz
$ss train --dataset digits-events --arch conv:8,16 --method spike-only --timesteps 2 --epochs 30 --seed 0 --out runs/digits-cnn
$ss export runs/digits-cnn --weight-bits 8 --out models/digits-cnn.npz
$ss sim models/digits-cnn.npz --simulator verilator --samples 450 --stall 0.3
$ss sim models/digits-cnn.npz --simulator icarus --samples 50 --stall 0.3
$ss build models/digits-cnn.npz --board ulx3s-85f --clock-mhz 120 --seed 1 2 3   # 120 MHz is near its limit: seeds in turn
$ss deploy models/digits-cnn.npz --board ulx3s-85f --sim --clock-mhz 120
$ss bench sparsity models/digits-baseline.npz models/digits-stablespike.npz models/digits-spike-only.npz \
    --name digits-demo --lanes 8 --out-dir runs/demo   # the three methods side by side
set +x
nmnist=${STABLESPIKE_NMNIST:-../shared/data/nmnist-small}
if [ ! -d "$nmnist/Train" ] && [ ! -d "$nmnist/nmnist/Train" ]; then
    echo "demo: no N-MNIST recordings at $nmnist (set STABLESPIKE_NMNIST); real-data part skipped"
    exit 0
fi
set -x
$ss train --dataset nmnist --data-root "$nmnist" --arch conv:16,32 --method spike-only --timesteps 4 --epochs 60 --augment-shift 2 --seed 0 --out runs/nmnist-spike-only
$ss export runs/nmnist-spike-only --weight-bits 8 --out models/nmnist-spike-only.npz
$ss sim models/nmnist-spike-only.npz --simulator verilator --lanes 16 --samples 199 --data-root "$nmnist"
$ss deploy models/nmnist-spike-only.npz --board ulx3s-85f --sim --lanes 16 --clock-mhz 120 --samples 10 --data-root "$nmnist"
$ss eval models/nmnist-spike-only.npz --data-root "$nmnist"   # real recordings, int8 golden: the last line
