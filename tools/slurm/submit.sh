#!/bin/bash
# Submits a Carve batch to Slurm: a job array of SHARDS tasks, then the merge once all succeeded.
#   INPUT=/data/photos PROMPTS=/data/prompts.json OUT=/data/out SHARDS=16 tools/slurm/submit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${INPUT:?set INPUT}" "${PROMPTS:?set PROMPTS}" "${OUT:?set OUT}"
shards=${SHARDS:-16}
mkdir -p "$OUT"
array=$(sbatch --parsable --array="0-$((shards - 1))" --export=ALL "$here/carve_array.sbatch")
sbatch --parsable --dependency="afterok:${array%%;*}" --export=ALL "$here/carve_merge.sbatch"
