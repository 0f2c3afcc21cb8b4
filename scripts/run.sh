#!/usr/bin/env bash
# make run: alfd's main job on data it generates itself, no other input.
set -euo pipefail
alfd=${1:-bin/alfd}
dir=run
mkdir -p "$dir"
export TRAP_SOCKET_DIR="$PWD/$dir"

echo "== generating 20000 synthetic flows (half DoH, traffic drifts halfway) and their resolvers' blacklist"
"$alfd" generate -o "f:$dir/synth.trapcap" --flows 20000 --seed 1 --blacklist "$dir/blacklist.txt" -v

echo "== serving them on the TRAP socket u:alfd-run (alfd replay); alfd features computes ALF's DoH features"
"$alfd" features -i u:alfd-run --blacklist "$dir/blacklist.txt" -o "$dir/features.csv" -v &
features=$!
"$alfd" replay -i "f:$dir/synth.trapcap,u:alfd-run"
wait "$features"

kept=$(($(wc -l <"$dir/features.csv") - 1))
doh=$(grep -c ',True$' "$dir/features.csv" || true)
echo "flows with features: $kept, labelled DoH by the blacklist: $doh (in $dir/features.csv)"
head -3 "$dir/features.csv" | cut -d, -f1-12
