#!/usr/bin/env bash
# make run: alfd's whole loop on data it generates itself, no other input.
set -euo pipefail
alfd=${1:-bin/alfd}
dir=run
rm -rf "$dir"
mkdir -p "$dir"
export TRAP_SOCKET_DIR="$PWD/$dir"

echo "== alfd generate: 60000 synthetic flows, half of them DoH; the traffic drifts halfway."
echo "   Also the resolvers' blacklist (the oracle) and a D_0 of 1000 flows from before the drift."
"$alfd" generate -o "f:$dir/synth.trapcap" --flows 60000 --seed 1 --blacklist "$dir/blacklist.txt" --d0 "$dir/d0.csv" -v

echo
echo "== alfd, started as ALF's module is, reads them, classifies every flow, and learns:"
echo "   a generation every 5000 flows asks the oracle about the 50 most uncertain, retrains, and swaps."
echo "   Watch f1_all_predicted (the model in use on each generation's flows) fall at the drift and recover."
"$alfd" --i "f:$dir/synth.trapcap,f:$dir/classified.trapcap" --id synth --workdir "$dir/workdir" \
	--model single --query_strategy uncertainty_unranked --blacklist "$dir/blacklist.txt" \
	--query_nmax 50 --max_db_size 10000 --dpath "$dir/d0.csv" --generation-flows 5000 2>&1 |
	sed -e 's/^time=[^ ]* level=INFO //' -e 's/ component=learner//'

echo
echo "== The classified flows ($dir/classified.trapcap), as NEMEA's logger would show them (alfd dump):"
"$alfd" dump -i "f:$dir/classified.trapcap" --fields SRC_IP,DST_IP,SRC_PORT,DST_PORT,PACKETS,DOH,DOH_PROBA,MODEL_VERSION -c 5
echo
echo "== alfd report: the experiment's generations summed up, and drawn in $dir/report.svg:"
"$alfd" report --workdir "$dir/workdir" --metric test_all_predicted.f1 --svg "$dir/report.svg"
echo
echo "The working directory $dir/workdir holds D_i (db.synth.csv), the models, the state, the"
echo "metrics of each generation (metrics.synth.jsonl) and the flows asked (queries.synth.csv);"
echo "run make run again to start over."
