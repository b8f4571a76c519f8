#!/usr/bin/env bash
# Everything gentool measures on a GPU, in one go: the CUDA tests, the training-step throughput
# in each speed configuration (with the eager reference beside it in every table), a profile,
# and the evaluation speed. Logs go to ${OUT:-gpu-logs}/.
#   bash benchmarks/gpu_suite.sh                     all parts (about 15 minutes on an H100)
#   bash benchmarks/gpu_suite.sh tests eager eval    some: tests eager compile other profile eval
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu-logs}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
"$py" -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])" | tee -a "$out/gpu.txt"

parts="${*:-tests eager compile other profile eval}"
want() { [[ " $parts " == *" $1 "* ]]; }

if want tests; then
  "$py" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/test_cuda.log" | tail -15
fi

bench() {  # name, then arguments of train_throughput.py
  local name=$1; shift
  echo "== $name: $*"
  timeout 900 "$py" benchmarks/train_throughput.py --device cuda "$@" >"$out/$name.log" 2>&1
  grep -E "^\||^fp32|^bf16|ratio" "$out/$name.log" | grep -v "^done" | tail -8
}
common=(--steps "${STEPS:-50}" --blocks "${BLOCKS:-5}" --warmup 5)
dcgan=(--models dcgan --width 64)
fast=(--precision bf16 --channels-last)
if want eager; then
  bench dcgan64-eager "${dcgan[@]}" "${common[@]}"
  bench dcgan64-graphs "${dcgan[@]}" --cuda-graphs "${common[@]}"
  bench dcgan64-bf16 "${dcgan[@]}" "${fast[@]}" "${common[@]}"
  bench dcgan64-bf16-graphs "${dcgan[@]}" "${fast[@]}" --cuda-graphs "${common[@]}"
fi
if want compile; then
  # torch.compile is run without channels_last: on torch 2.11 inductor's backward of the
  # transposed convolutions fails a stride check with channels_last weights
  bench dcgan64-bf16-compile "${dcgan[@]}" --precision bf16 --compile "${common[@]}"
  bench dcgan64-bf16-compile-graphs "${dcgan[@]}" --precision bf16 --compile --cuda-graphs "${common[@]}"
  bench dcgan64-fp32-cl-compile "${dcgan[@]}" --channels-last --compile --batch-sizes 128 "${common[@]}"
fi
if want other; then
  bench dcgan128-eager --models dcgan --width 128 "${common[@]}"
  bench dcgan128-bf16-graphs --models dcgan --width 128 "${fast[@]}" --cuda-graphs "${common[@]}"
  bench vae-sr-eager --models vae,sr-unet "${common[@]}"
  bench vae-sr-bf16 --models vae,sr-unet "${fast[@]}" "${common[@]}"
fi
if want profile; then
  bench profile "${dcgan[@]}" --batch-sizes 128 "${fast[@]}" --cuda-graphs --profile --steps 20 --blocks 3
  grep -E "^profile|^GPU busy|^  [a-z]|^---" "$out/profile.log"
fi
if want eval; then
  echo "== evaluation speed"
  timeout 900 "$py" benchmarks/eval_speed.py --device cuda --num 10000 --inception-count 10000 >"$out/eval_speed.log" 2>&1
  tail -12 "$out/eval_speed.log"
fi
