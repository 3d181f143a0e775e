#!/usr/bin/env bash
# Set up (if needed), then train the demo net with and without Stable Spike, export it to an
# integer model file, evaluate it on the golden model, generate the accelerator's Verilog and
# simulate it with cocotb against the golden model on Verilator (whole test split, with stalls)
# and Icarus, build its ULX3S-85F and iCEBreaker bitstreams (the iCEBreaker's from a 24 MHz PLL
# with a 3 Mbaud UART), and load, read back and run the whole test split on the simulated
# board: the board's logic on its UART pins in Verilator, with a host UART on the other end.
# The net also goes out as NIR (what snnTorch, SpikingJelly, Norse... read) and comes back in as
# a peer's net would. Then the same for a convolutional net on event data (conv layers with shared kernels, in the
# model file and in the accelerator): train, export, simulate, build for the ULX3S at 120 MHz,
# run on the simulated board.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ss=.venv/bin/stablespike
set -x
$ss train --dataset digits --method stablespike --timesteps 2 --epochs 30 --seed 0 --out runs/digits-ss
$ss train --dataset digits --method baseline --timesteps 2 --epochs 30 --seed 0 --out runs/digits-base
$ss export runs/digits-ss --weight-bits 8 --out models/digits-ss.npz
$ss eval models/digits-ss.npz --engine golden
$ss eval models/digits-ss.npz --engine golden --mode skeleton
$ss eval runs/digits-ss --engine float
$ss eval runs/digits-base --engine float
$ss rtl models/digits-ss.npz --lanes 8 --out build/rtl
$ss sim models/digits-ss.npz --simulator verilator --samples 450 --stall 0.3
$ss sim models/digits-ss.npz --simulator verilator --samples 450 --mode noise
$ss sim models/digits-ss.npz --simulator icarus --samples 50 --stall 0.3
$ss build models/digits-ss.npz --board ulx3s-85f
$ss build models/digits-ss.npz --board icebreaker --clock-mhz 24 --baud 3000000
$ss deploy models/digits-ss.npz --board icebreaker --sim --clock-mhz 24 --baud 3000000
$ss export-nir runs/digits-ss --out runs/digits-ss.nir
$ss import runs/digits-ss.nir --dataset digits --out models/digits-ss-nir.npz
$ss train --dataset digits-events --arch conv:8,16 --method spike-only --timesteps 2 --epochs 30 --seed 0 --out runs/digits-cnn
$ss export runs/digits-cnn --weight-bits 8 --out models/digits-cnn.npz
$ss sim models/digits-cnn.npz --simulator verilator --samples 450 --stall 0.3
$ss sim models/digits-cnn.npz --simulator icarus --samples 50 --stall 0.3
$ss build models/digits-cnn.npz --board ulx3s-85f --clock-mhz 120 --seed 1 2 3   # 120 MHz is near its limit: seeds in turn
$ss deploy models/digits-cnn.npz --board ulx3s-85f --sim --clock-mhz 120
