#!/usr/bin/env bash
# Gathers, on a machine that reaches PyPI, what benchmarks/gpu_check.sh needs on a GPU machine
# that reaches nothing: the full Fashion-MNIST's four IDX files and the wheels of the packages
# its image lacks (Textual and plotext; torch, torchvision, click, pytest and rich are there),
# for Python 3.12 on x86-64. Everything lands in .gpu/ (ignored by git, about 32 MB).
#
#     bash benchmarks/gpu_prepare.sh [DATA_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-/usr/share/datasets/fashion-mnist}
mkdir -p .gpu/cache/data .gpu/wheels
cp "$data"/*-ubyte.gz .gpu/cache/data/
pip=(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12
     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
     --platform manylinux2014_x86_64 --platform any -d .gpu/wheels)
for spec in textual textual-plotext "plotext<6" pytest-asyncio pytest-textual-snapshot==1.1.0 \
            syrupy==4.8.0 markdown-it-py mdit-py-plugins linkify-it-py uc-micro-py \
            platformdirs "typing-extensions>=4.12" jinja2 markupsafe; do
  "${pip[@]}" "$spec"
done
du -sh .gpu
