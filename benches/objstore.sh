#!/usr/bin/env bash
# Cost of shards and of object storage: one local run against N shards run one after another
# (outputs compared byte for byte), and the same corpus read from and written to a local
# S3-compatible server (moto, started on 127.0.0.1 and stopped by this script).
#
#   benches/objstore.sh                       # 100 MiB corpus, 2 shards, debug build
#   benches/objstore.sh --release --size-mb 256 --shards 4
#
# Options:
#   --size-mb N     corpus size (default 100)
#   --shards N      shards run one after another (default 2)
#   --split-bytes B --split-bytes of the shard runs, so the corpus file is cut (default 16MiB)
#   --release       build and run the release profile (default: debug)
#   --threads N     threads of every run (default 2)
#   --no-s3         skip the object-storage rows
#   --workdir DIR   corpus and outputs (default /tmp/t2p-objstore)
#
# Every run is timed with /usr/bin/time (wall seconds, peak RSS). Needs cargo, curl, and for the
# S3 rows moto's server (pip install 'moto[server]').
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=100
SHARDS=2
SPLIT=16MiB
PROFILE=debug
THREADS=2
S3=1
WORK=/tmp/t2p-objstore
NOW=2026-01-01T00:00:00Z

while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) SIZE=$2; shift 2 ;;
        --shards) SHARDS=$2; shift 2 ;;
        --split-bytes) SPLIT=$2; shift 2 ;;
        --release) PROFILE=release; shift ;;
        --threads) THREADS=$2; shift 2 ;;
        --no-s3) S3=0; shift ;;
        --workdir) WORK=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "objstore.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

flag=""
[ "$PROFILE" = release ] && flag=--release
(cd "$ROOT" && cargo build $flag --quiet --bin track2pipelines --example gen_corpus)
BIN="$ROOT/target/$PROFILE/track2pipelines"
GEN="$ROOT/target/$PROFILE/examples/gen_corpus"
mkdir -p "$WORK"
CORPUS="$WORK/corpus-$SIZE.ndjson"
[ -s "$CORPUS" ] || "$GEN" --size-mb "$SIZE" --seed 1 --out "$CORPUS"
BYTES=$(stat -c %s "$CORPUS")
OPTS=(--quiet --now "$NOW" --threads "$THREADS" --partition-by type)

# Runs a command under /usr/bin/time; prints "seconds peak_kib".
timed() {
    local t="$WORK/time.txt" code=0
    /usr/bin/time -f "%e %M" -o "$t" "$@" || code=$?
    if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then
        echo "objstore.sh: $* exited $code" >&2
        exit 1
    fi
    tail -n 1 "$t"
}

# Part files of a local output, concatenated per partition in name order, as one checksum.
parts_digest() {
    (cd "$1" && find . -name 'part-*' | sort | while read -r f; do
        echo "$(dirname "$f")"
    done | uniq | while read -r d; do
        echo "$d $(find "$d" -maxdepth 1 -name 'part-*' | sort | xargs cat | sha256sum | cut -c1-16)"
    done)
}

row() { # name seconds kib [bytes]
    awk -v n="$1" -v s="$2" -v k="$3" -v b="${4:-$BYTES}" \
        'BEGIN { printf "| %s | %.2f | %.1f | %.0f |\n", n, s, b / 1048576 / s, k / 1024 }'
}

echo "corpus: $CORPUS ($BYTES bytes), profile $PROFILE, threads $THREADS"
echo
echo "| run | wall s | MB/s | peak RSS MiB |"
echo "|---|---|---|---|"

rm -rf "$WORK/single" && sync
read -r s k < <(timed "$BIN" convert "${OPTS[@]}" --out "$WORK/single" "$CORPUS")
row "local, one run" "$s" "$k"
single=$(parts_digest "$WORK/single")

rm -rf "$WORK/shards" && sync
total=0 peak=0
for ((i = 0; i < SHARDS; i++)); do
    read -r s k < <(timed "$BIN" convert "${OPTS[@]}" --shard "$i/$SHARDS" --split-bytes "$SPLIT" \
        --out "$WORK/shards" "$CORPUS")
    sb=$(python3 -c 'import json,sys; print(sum(i["bytes_read"] for i in json.load(open(sys.argv[1]))["inputs"]))' \
        "$WORK/shards/manifest-$(printf %04d "$i")-of-$(printf %04d "$SHARDS").json")
    row "local, shard $i/$SHARDS ($sb bytes)" "$s" "$k" "$sb"
    total=$(awk -v a="$total" -v b="$s" 'BEGIN { print a + b }')
    [ "$k" -gt "$peak" ] && peak=$k
done
row "local, $SHARDS shards in sequence (sum)" "$total" "$peak"
"$BIN" merge --out "$WORK/shards" 2>/dev/null
sharded=$(parts_digest "$WORK/shards")
if [ "$single" = "$sharded" ]; then same=yes; else same=NO; fi
echo
echo "shards' part files concatenated per partition equal the single run's: $same"
cmp <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["totals"], sort_keys=True))' "$WORK/single/manifest.json") \
    <(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["totals"], sort_keys=True))' "$WORK/shards/manifest.json") \
    && echo "merged manifest totals equal the single run's: yes"

[ "$S3" = 1 ] || exit 0
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
trap 'kill $MOTO 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
curl -sf -X PUT -d '' "http://127.0.0.1:$PORT/bench" >/dev/null
curl -sf -X PUT -H "Content-Type: application/octet-stream" --data-binary "@$CORPUS" "http://127.0.0.1:$PORT/bench/in/corpus.ndjson" >/dev/null
echo
echo "| run (moto on 127.0.0.1) | wall s | MB/s | peak RSS MiB |"
echo "|---|---|---|---|"
rm -rf "$WORK/from-s3" && sync
read -r s k < <(timed "$BIN" convert "${OPTS[@]}" --out "$WORK/from-s3" "s3://bench/in/")
row "S3 in, local out" "$s" "$k"
read -r s k < <(timed "$BIN" convert "${OPTS[@]}" --out "s3://bench/out/" "s3://bench/in/")
row "S3 in, S3 out" "$s" "$k"
echo
if [ "$(parts_digest "$WORK/from-s3")" = "$single" ]; then same=yes; else same=NO; fi
echo "S3-read part files equal the local run's: $same"
python3 - "$WORK/single/manifest.json" <<'PY'
import json, os, sys
import boto3  # comes with moto
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
a = json.load(open(sys.argv[1]))["files"]
b = json.loads(s3.get_object(Bucket="bench", Key="out/manifest.json")["Body"].read())["files"]
print("S3-written part files (paths, sizes, xxh3-128) equal the local run's:", "yes" if a == b else "NO")
PY
