#!/usr/bin/env bash
# make run: alfd's main job on data it generates itself, no other input.
set -euo pipefail
alfd=${1:-bin/alfd}
dir=run
mkdir -p "$dir"
export TRAP_SOCKET_DIR="$PWD/$dir"

echo "== generating 20000 synthetic flows (half DoH, traffic drifts halfway)"
"$alfd" generate -o "f:$dir/synth.trapcap" --flows 20000 --seed 1 --blacklist "$dir/blacklist.txt" -v

echo "== replaying them over the TRAP unix socket u:alfd-run, read back by alfd dump"
"$alfd" dump -i u:alfd-run -o "$dir/flows.csv" &
dump=$!
"$alfd" replay -i "f:$dir/synth.trapcap,u:alfd-run"
wait "$dump"
echo "flows read back over u:alfd-run: $(($(wc -l <"$dir/flows.csv") - 1)) (in $dir/flows.csv)"
head -4 "$dir/flows.csv" | cut -d, -f1,2,7,8
