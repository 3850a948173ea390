#!/usr/bin/env bash
# Throughput and memory of `track2pipelines send` against the local Pipelines test server
# (examples/pipelines_test_server.rs) on 127.0.0.1, on a generated corpus.
#
#   benches/send.sh                 # 256 MiB Track corpus
#   benches/send.sh --size-mb 64    # smaller, to try it out
#
# Runs, each under /usr/bin/time (wall, user+sys CPU, peak RSS):
#   1. convert the corpus (not timed here: benches/compare.sh measures convert);
#   2. send the convert output with no rate limit (--rate 0): MB/s of call bytes, requests/s;
#   3. send --from track on the corpus, end to end (conversion included);
#   4. send at --rate 1000 with 50-call batches (full 500 KB batches at 1000/s would need
#      500 MB/s), and the rate held by the server's clock: requests/s over the run, and the
#      most requests in any 1-s and 3-s window.
# The server runs on the same cores as the sender; each row reports the sender's CPU (from
# /usr/bin/time) and the server's CPU over the same run (from /proc/PID/stat) apart, so the
# server's share is never read as the sender's.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=/tmp/t2p-send-bench
SIZE=256
PORT=18787
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) SIZE=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$ROOT"
cargo build --release --locked --bin track2pipelines --example pipelines_test_server --example gen_corpus
BIN=$ROOT/target/release/track2pipelines
SRV=$ROOT/target/release/examples/pipelines_test_server
mkdir -p "$WORK"
CORPUS=$WORK/corpus-$SIZE.ndjson
[ -f "$CORPUS" ] || "$ROOT/target/release/examples/gen_corpus" --size-mb "$SIZE" --seed 1 --out "$CORPUS"
rm -rf "$WORK/out" "$WORK"/st-*
"$BIN" convert --quiet --now 2026-01-01T00:00:00Z --partition-by none --out "$WORK/out" "$CORPUS" || [ $? -eq 3 ]

"$SRV" --port "$PORT" --key bench-key > "$WORK/server.log" &
SRV_PID=$!
trap 'kill $SRV_PID 2>/dev/null || true' EXIT
sleep 1

export CIO_WRITE_KEY=bench-key
server_cpu() { # the test server's user+sys CPU so far, in seconds
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$SRV_PID/stat"
}
measure() { # name, then the send arguments
    local name=$1; shift
    local before after
    before=$(server_cpu)
    /usr/bin/time -v "$BIN" send --quiet --endpoint "http://127.0.0.1:$PORT/v1" --state "$WORK/st-$name" \
        --summary-json "$WORK/$name.json" "$@" 2> "$WORK/$name.time" || true
    after=$(server_cpu)
    python3 - "$WORK/$name.json" "$WORK/$name.time" "$name" "$before" "$after" <<'PY'
import json, re, sys
s = json.load(open(sys.argv[1])); t = open(sys.argv[2]).read()
server = float(sys.argv[5]) - float(sys.argv[4])
def f(k): return re.search(k + r": (.*)", t).group(1).strip()
cpu = float(f("User time \\(seconds\\)")) + float(f("System time \\(seconds\\)"))
rss = int(f("Maximum resident set size \\(kbytes\\)")) / 1024
gb = s["bytes_sent"] / 1e9
print(f"{sys.argv[3]:>10}: exit {s['exit_code']}, {s['calls_acknowledged']} calls, {s['requests']} requests "
      f"in {s['elapsed_seconds']:.2f} s: {s['mb_per_second']:.1f} MB/s, {s['requests_per_second']:.0f} req/s, "
      f"{s['calls_per_second']:.0f} calls/s, sender {cpu:.2f} CPU s ({cpu / max(gb, 1e-9):.1f} CPU s/GB), "
      f"server {server:.2f} CPU s, sender peak RSS {rss:.1f} MiB")
PY
}

measure norate --rate 0 "$WORK/out"
measure track --rate 0 --from track --now 2026-01-01T00:00:00Z "$CORPUS"
measure rate1000 --rate 1000 --max-batch-calls 50 "$WORK/out"
REQUESTS=$(python3 -c "import json; print(json.load(open('$WORK/rate1000.json'))['requests'])")
tail -n "$REQUESTS" "$WORK/server.log" | python3 -c '
import bisect, sys
ts = [float(l.split()[0].rstrip("s")) for l in sys.stdin]
span = ts[-1] - ts[0]
most = lambda w: max(bisect.bisect_left(ts, t + w) - i for i, t in enumerate(ts))
print(f"  rate held: {(len(ts) - 1) / span:.1f} requests/s over {span:.2f} s; "
      f"at most {most(1.0)} in any 1-s window, {most(3.0)} in any 3-s window")'

