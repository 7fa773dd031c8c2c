#!/usr/bin/env bash
# make gpu-check: prove correctness and speed on a CUDA machine in one command.
#   1. the CUDA-marked tests (reference fixtures on cuda fp32 within the CPU bar; fp16/bf16 vs fp32)
#   2. the engine benchmark on cuda, fp32 and fp16, with batched throughput
#   3. the node benchmark on cuda (real DDS on loopback), one and two cameras, when rclpy is importable
#   4. ov-seg on a 100-frame 640x480 bag on cuda (batches of 8) next to the live node, when rosbags is
# then one table of the figures (bench/gpu_report.py). Results: bench/results/gpu_*.json.
set -uo pipefail
cd "$(dirname "$0")/.."
R=${OV_SEG_RESULTS:-bench/results}
mkdir -p "$R"
export OV_SEG_GPU_REPORT="$R/gpu_check_tests.json"
rm -f "$OV_SEG_GPU_REPORT"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
  echo "gpu-check: CUDA is not available on this machine (torch.cuda.is_available() is False)" >&2; exit 2; }
status=0
python -m pytest -q -m cuda test/test_cuda.py -p no:cacheprovider -s || status=1
# the tensorrt backend (issue 24): skips itself without the tensorrt package (pip install .[tensorrt])
python -m pytest -q test/test_backends_cuda.py -p no:cacheprovider -rs || status=1
for p in fp32 fp16; do
  python bench/bench_engine.py --device cuda --precision "$p" --iters "${GPU_ITERS:-100}" --warmup 10 \
    --ref-iters 20 --batches 1,4,8,16 --out "$R/gpu_engine_$p.json" || status=1
done
if python -c "import rclpy" 2>/dev/null; then
  python bench/bench_node.py --device cuda --qos-reliability reliable --frames 30 --json "$R/gpu_node_1cam.json" || status=1
  python bench/bench_node.py --device cuda --qos-reliability reliable --frames 30 --cameras 2 \
    --json "$R/gpu_node_2cam.json" || status=1
  if python -c "import rosbags" 2>/dev/null; then
    python bench/bench_bag.py --device cuda --batch-size 8 --json "$R/gpu_bag.json" || status=1
  fi
else
  echo "gpu-check: rclpy is not importable here, node and bag benchmarks skipped" >&2
fi
python bench/gpu_report.py "$R" || status=1
exit $status
