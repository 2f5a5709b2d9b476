#!/usr/bin/env bash
# Everything smtui checks on an NVIDIA GPU, in one call of a few minutes: the `cuda` tests, the
# three presets headless on CUDA, the TUI in a real terminal (tmux) on CUDA, train_ch6 against
# the book's and a hand loop (benchmarks/ch6.py, with 7.6's ResNet), and `python -m benchmarks`
# on CUDA, which names the GPU and writes benchmarks/results/latest-cuda.json.
# Each step's output is saved in $OUT (default gpu-check/); a failing step does not stop the
# others. Prepared here by benchmarks/gpu_prepare.sh (.gpu/: data and wheels).
#
#     bash benchmarks/gpu_check.sh [--full]      (--full: the benchmarks' full rounds, longer)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
quick=${1:---quick}          # the benchmarks' shorter form by default: the call stays in 5 min
[ "$quick" = --full ] && quick=
if [ -d .gpu/wheels ] && ls .gpu/wheels/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/smtui-site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/smtui-site:$PWD
else
  export PYTHONPATH=$PWD
fi
[ -d .gpu/cache ] && export SMTUI_CACHE_DIR=$PWD/.gpu/cache
export SMTUI_NO_DOWNLOAD=1 PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
step() {   # step NAME COMMAND...: run, keep its output, say how it ended
  local name=$1; shift
  local start=$SECONDS
  "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
  tail -n 5 "$OUT/$name.txt"
}
step gpu nvidia-smi
step versions "$py" -c "import torch, textual; print(torch.__version__, torch.version.cuda, \
torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-', \
textual.__version__)"
step cuda-tests "$py" -m pytest -q -p no:cacheprovider -m cuda tests/test_cuda.py \
  tests/test_replay.py
epochs=(); [ "$quick" = --quick ] && epochs=(--epochs 2)
for preset in book linear-tuned mlp; do
  step "preset-$preset" "$py" -m tui_trainer --no-ui --preset "$preset" --device cuda \
    --out /tmp/smtui-gpu-runs "${epochs[@]}"
done
if command -v tmux >/dev/null; then
  tmux new-session -d -s smtui-gpu -x 120 -y 40 \
    "cd $PWD && $py -m tui_trainer --device cuda --epochs 3 --out /tmp/smtui-gpu-tui"
  sleep 8; tmux send-keys -t smtui-gpu s
  for _ in $(seq 60); do
    tmux capture-pane -p -t smtui-gpu > "$OUT/tui-screen.txt"
    grep -q "finished" "$OUT/tui-screen.txt" && break
    sleep 1
  done
  echo "tui: $(grep -c finished "$OUT/tui-screen.txt") finished line(s)" | tee -a "$OUT/summary.txt"
  tmux kill-session -t smtui-gpu
else
  echo "tui: no tmux on this machine" | tee -a "$OUT/summary.txt"
fi
# 6.6's LeNet through d2l.train_ch6 beside the book's train_ch6 and a hand loop with the data on
# the GPU; then 7.6's ResNet at resize 96, one epoch (chapter 7 on the device it asks for).
step ch6 "$py" -m benchmarks.ch6 --device cuda --epochs 2 --rounds 3 --resnet
step bench "$py" -m benchmarks --out "$OUT" $quick
cp "$OUT"/latest-cuda.json benchmarks/results/ 2>/dev/null || true
cat "$OUT/summary.txt"
