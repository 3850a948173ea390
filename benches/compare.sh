#!/usr/bin/env bash
# Side-by-side throughput of `track2pipelines convert --partition-by type` against the same job
# done by DuckDB (benches/duckdb_job.py), by jq (benches/map.jq + an awk split by type) and
# against a parse-only floor and a write floor (examples/parse_floor.rs), on generated corpora.
#
#   benches/compare.sh                      # 256 MiB and 1 GiB corpora, 3 runs each
#   benches/compare.sh --quick              # one 64 MiB corpus, 2 runs: to try it out
#   benches/compare.sh --sizes 128,512 --runs 5 --skip-jq-above 512
#
# Options:
#   --sizes LIST          corpus sizes in MiB, comma separated (default 256,1024)
#   --runs N              timed runs per contender and size (default 3)
#   --quick               --sizes 64 --runs 2 unless given
#   --workdir DIR         corpora and outputs (default /tmp/t2p-bench); corpora are kept and
#                         reused while examples/gen_corpus.rs is unchanged
#   --skip-jq-above MB    run jq only on corpora of at most MB MiB (default 256)
#   --threads N           threads of track2pipelines, DuckDB and the second floor (default 2)
#   --no-extras           only the four contenders, no thread/zstd/CSV/--compress/selection rows
#   --only LIST           run only these contenders (comma list, e.g. t2p,t2p-filters,t2p-transform)
#   --no-install          do not install missing tools
#   --results FILE        where the Markdown table goes (default benches/results.md); the
#                         file's sections that open with "## " are kept after the new table
#
# Every contender runs under `/usr/bin/time` (wall time, user+sys CPU, peak RSS); the runs
# alternate (t2p, duckdb, jq, floor, extras, then again), with the input warm in the page cache
# and the previous output deleted and synced before each run. The table gives medians.
# Needs: cargo, python3, and (installed when missing, with apt-get/pip) jq, GNU time, zstd,
# the duckdb Python package.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=/tmp/t2p-bench
SIZES=""
RUNS=""
QUICK=0
SKIP_JQ_ABOVE=256
THREADS=2
EXTRAS=1
ONLY=""
INSTALL=1
RESULTS="$ROOT/benches/results.md"
SEED=1
NOW=2026-01-01T00:00:00Z
NOW_MS=1767225600000

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --workdir) WORK=$2; shift 2 ;;
        --skip-jq-above) SKIP_JQ_ABOVE=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --no-extras) EXTRAS=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --results) RESULTS=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$QUICK" = 1 ]; then
    SIZES=${SIZES:-64}
    RUNS=${RUNS:-2}
fi
SIZES=${SIZES:-256,1024}
RUNS=${RUNS:-3}
IFS=, read -r -a SIZE_LIST <<<"$SIZES"
for n in "${SIZE_LIST[@]}" "$RUNS" "$THREADS" "$SKIP_JQ_ABOVE"; do
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || { echo "compare.sh: '$n' is not a positive number" >&2; exit 2; }
done

log() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi

apt_install() {
    [ "$INSTALL" = 1 ] || { echo "compare.sh: missing $* (and --no-install)" >&2; exit 1; }
    log "installing $* with apt-get"
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
[ -x /usr/bin/time ] || missing+=(time)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip python3-venv)
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
command -v cargo >/dev/null 2>&1 || { echo "compare.sh: cargo is required" >&2; exit 1; }

mkdir -p "$WORK"
# The DuckDB the figures are measured against, pinned: a figure is only comparable with one of
# the same version (DUCKDB_VERSION=X.Y.Z benches/compare.sh measures another).
DUCKDB_VERSION=${DUCKDB_VERSION:-2.0.1}
duckdb_is() { "$1" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; }
PY=python3
if ! duckdb_is python3; then
    if duckdb_is "$WORK/venv/bin/python"; then
        PY="$WORK/venv/bin/python"
    else
        [ "$INSTALL" = 1 ] || { echo "compare.sh: DuckDB $DUCKDB_VERSION (Python package) is missing" >&2; exit 1; }
        log "installing the duckdb Python package, version $DUCKDB_VERSION"
        if ! python3 -m pip install --quiet "duckdb==$DUCKDB_VERSION" 2>/dev/null; then
            # An externally managed Python (Debian): use a virtual environment instead.
            python3 -m venv "$WORK/venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$WORK/venv"; }
            "$WORK/venv/bin/python" -m pip install --quiet "duckdb==$DUCKDB_VERSION"
            PY="$WORK/venv/bin/python"
        fi
    fi
fi
log "DuckDB $("$PY" -c 'import duckdb; print(duckdb.__version__)') ($PY)"

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet --bin track2pipelines --example gen_corpus --example parse_floor)
T2P="$ROOT/target/release/track2pipelines"
GEN="$ROOT/target/release/examples/gen_corpus"
FLOOR="$ROOT/target/release/examples/parse_floor"

# ---------------------------------------------------------------------------------------------
# Corpora (deterministic: reused while the generator is unchanged)
# ---------------------------------------------------------------------------------------------
GEN_ID=$(sha256sum "$ROOT/examples/gen_corpus.rs" | cut -c1-16)

# make_file TARGET DESCRIPTION COMMAND...: runs COMMAND writing "$TARGET.tmp" unless TARGET is
# up to date (its .ok marker names the same generator and recipe).
make_file() {
    local target=$1 recipe="$2 gen=$GEN_ID"
    shift 2
    if [ -f "$target" ] && [ "$(cat "$target.ok" 2>/dev/null)" = "$recipe" ]; then return; fi
    log "writing $target"
    rm -f "$target" "$target.ok"
    "$@"
    mv "$target.tmp" "$target"
    echo "$recipe" >"$target.ok"
}

for size in "${SIZE_LIST[@]}"; do
    base="$WORK/corpus-${size}"
    make_file "$base.ndjson" "ndjson seed=$SEED size=$size" \
        "$GEN" --size-mb "$size" --seed "$SEED" --out "$base.ndjson.tmp"
    if [ "$EXTRAS" = 1 ]; then
        make_file "$base.ndjson.zst" "zstd -3 of ndjson seed=$SEED size=$size" \
            zstd -q -3 -T0 -f "$base.ndjson" -o "$base.ndjson.zst.tmp"
        make_file "$base.csv" "csv seed=$SEED size=$size" \
            "$GEN" --size-mb "$size" --seed "$SEED" --format csv --out "$base.csv.tmp"
    fi
done

# ---------------------------------------------------------------------------------------------
# Contenders
# ---------------------------------------------------------------------------------------------
RUNS_TSV="$WORK/runs.tsv"
printf 'tool\tsize\trun\twall\tuser\tsys\trss_kb\tcalls\tout_bytes\tin_bytes\tin_lines\tfile_bytes\n' >"$RUNS_TSV"
OUT="$WORK/out"
TIMES="$WORK/time.txt"
RUNLOG="$WORK/run.log"

contenders_for() { # SIZE
    local list=(t2p duckdb)
    if [ "$1" -le "$SKIP_JQ_ABOVE" ]; then list+=(jq); fi
    list+=(floor-1)
    if [ "$THREADS" -ne 1 ]; then list+=(floor-n); fi
    list+=(floor-write)
    if [ "$EXTRAS" = 1 ]; then
        if [ "$THREADS" -ne 1 ]; then list+=(t2p-1t); fi
        list+=(t2p-zstd-in t2p-csv t2p-out-zstd1 t2p-out-zstd3 t2p-filters t2p-transform)
    fi
    if [ -n "$ONLY" ]; then
        local keep=() t
        for t in "${list[@]}"; do
            case ",$ONLY," in *",$t,"*) keep+=("$t") ;; esac
        done
        list=("${keep[@]}")
    fi
    echo "${list[@]}"
}

input_of() { # TOOL SIZE
    case "$1" in
        t2p-zstd-in) echo "$WORK/corpus-$2.ndjson.zst" ;;
        t2p-csv) echo "$WORK/corpus-$2.csv" ;;
        *) echo "$WORK/corpus-$2.ndjson" ;;
    esac
}

# The command line of TOOL on INPUT writing under $OUT, into the array CMD.
command_of() { # TOOL INPUT
    local t2p=("$T2P" convert --out "$OUT" --partition-by type --progress never --quiet
        --now "$NOW" --summary-json "$WORK/summary.json")
    case "$1" in
        t2p | t2p-zstd-in | t2p-csv) CMD=("${t2p[@]}" --threads "$THREADS" "$2") ;;
        t2p-1t) CMD=("${t2p[@]}" --threads 1 "$2") ;;
        t2p-out-zstd1) CMD=("${t2p[@]}" --threads "$THREADS" --compress zstd --compress-level 1 "$2") ;;
        t2p-out-zstd3) CMD=("${t2p[@]}" --threads "$THREADS" --compress zstd --compress-level 3 "$2") ;;
        # docs/transforms.md: filters that keep every call (their cost, not fewer writes), and a
        # transform of a few lines (the one of benches/select.rs).
        t2p-filters) CMD=("${t2p[@]}" --threads "$THREADS" --since 1970-01-01T00:00:00Z \
            --until 9999-01-01T00:00:00Z --types identify,track,page,screen,group,alias \
            --exclude-events 'No such event *,Nothing?' "$2") ;;
        t2p-transform) CMD=("${t2p[@]}" --threads "$THREADS" --transform "$WORK/select.jq" "$2") ;;
        duckdb) CMD=("$PY" "$ROOT/benches/duckdb_job.py" --input "$2" --out "$OUT" --threads "$THREADS" --now "$NOW") ;;
        jq)
            # jq writes one stream; awk puts each call in OUT/type=<type>.ndjson.
            # shellcheck disable=SC2016 # the script is for the inner bash
            CMD=(bash -c 'set -o pipefail; jq -R -c --argjson now_ms "$1" -f "$2" "$3" | awk -F"\"" -v dir="$4" "{ print > (dir \"/type=\" \$4 \".ndjson\") }"'
                jq-job "$NOW_MS" "$ROOT/benches/map.jq" "$2" "$OUT") ;;
        floor-1) CMD=("$FLOOR" "$2" --threads 1) ;;
        floor-n) CMD=("$FLOOR" "$2" --threads "$THREADS") ;;
        floor-write) CMD=("$FLOOR" "$2" --threads "$THREADS" --write "$OUT/lines.ndjson") ;;
        *) echo "unknown tool $1" >&2; exit 2 ;;
    esac
}

# Sets IN_BYTES/IN_LINES (the data a contender reads: decompressed; CSV rows without the header)
# and FILE_BYTES for INPUT, and warms the page cache with it.
declare -A BYTES_OF LINES_OF
measure_input() { # INPUT
    local f=$1 plain=${1%.zst}
    if [ -z "${BYTES_OF[$f]:-}" ]; then
        BYTES_OF[$f]=$(stat -c %s "$plain")
        local lines header=0
        lines=$(wc -l <"$plain")
        case "$f" in *.csv) header=1 ;; esac
        LINES_OF[$f]=$((lines - header))
    fi
    IN_BYTES=${BYTES_OF[$f]}
    IN_LINES=${LINES_OF[$f]}
    FILE_BYTES=$(stat -c %s "$f")
    cat "$f" >/dev/null
}

clean_out() {
    rm -rf "$OUT" "$WORK/summary.json"
    mkdir -p "$OUT"
    sync
}

# Calls written: from the summary for track2pipelines, else lines of the output files.
count_calls() { # TOOL
    case "$1" in
        floor-*) echo 0 ;;
        t2p*) "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["calls"])' "$WORK/summary.json" ;;
        *) find "$OUT" -type f -exec cat {} + | wc -l ;;
    esac
}

run_one() { # TOOL SIZE RUN
    local tool=$1 size=$2 run=$3 input rc=0 wall user sys rss calls out_bytes
    input=$(input_of "$tool" "$size")
    measure_input "$input"
    clean_out
    command_of "$tool" "$input"
    /usr/bin/time -f '%e %U %S %M' -o "$TIMES" "${CMD[@]}" >"$RUNLOG" 2>&1 || rc=$?
    # track2pipelines exits 3 when records were rejected: the corpora hold ~1% bad lines.
    if [ "$rc" -ne 0 ] && ! { [[ "$tool" == t2p* ]] && [ "$rc" -eq 3 ]; }; then
        log "FAILED: $tool on corpus-$size (exit $rc):"
        tail -n 20 "$RUNLOG" >&2
        exit 1
    fi
    read -r wall user sys rss < <(tail -n 1 "$TIMES")
    calls=$(count_calls "$tool")
    out_bytes=$(du -sb "$OUT" | cut -f1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$size" "$run" "$wall" "$user" \
        "$sys" "$rss" "$calls" "$out_bytes" "$IN_BYTES" "$IN_LINES" "$FILE_BYTES" >>"$RUNS_TSV"
    log "$tool corpus-$size run $run: ${wall}s wall, $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')s CPU, $((rss / 1024)) MiB peak RSS"
}

cat >"$WORK/select.jq" <<'JQ'
if .type == "track" and .event == "Signed Up" then .event = "Signup Completed" else . end
| if .type == "track" then .properties += {import_source: "archive"} else . end
| if (.traits | type) == "object" then .traits |= del(.phone) else . end
JQ

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
for size in "${SIZE_LIST[@]}"; do
    read -r -a tools <<<"$(contenders_for "$size")"
    for run in $(seq 1 "$RUNS"); do
        for tool in "${tools[@]}"; do
            run_one "$tool" "$size" "$run"
        done
    done
done
clean_out
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
export R_GIT_REV R_DUCKDB R_JQ R_CPU R_MEM R_NPROC R_LOAD_START R_LOAD_END R_THREADS R_SKIP_JQ \
    R_QUICK R_SIZES R_RUNS R_SEED
R_GIT_REV=$(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)
R_DUCKDB=$("$PY" -c 'import duckdb; print(duckdb.__version__)')
R_JQ=$(jq --version)
R_CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
R_MEM=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
R_NPROC=$(nproc)
R_LOAD_START=$LOAD_START R_LOAD_END=$LOAD_END R_THREADS=$THREADS R_SKIP_JQ=$SKIP_JQ_ABOVE
R_QUICK=$QUICK R_SIZES=$SIZES R_RUNS=$RUNS R_SEED=$SEED

"$PY" - "$RUNS_TSV" "$RESULTS" <<'PY'
import csv, datetime, os, statistics, sys
from collections import defaultdict

E = os.environ
runs_tsv, results = sys.argv[1], sys.argv[2]
threads, skip_jq, quick = int(E["R_THREADS"]), int(E["R_SKIP_JQ"]), E["R_QUICK"] == "1"
sizes = [int(s) for s in E["R_SIZES"].split(",")]
by = defaultdict(list)
for r in csv.DictReader(open(runs_tsv), delimiter="\t"):
    by[(r["tool"], int(r["size"]))].append(r)

labels = {
    "t2p": f"track2pipelines, {threads} threads",
    "t2p-1t": "track2pipelines, 1 thread",
    "duckdb": f"DuckDB SQL job, {threads} threads",
    "jq": "jq + awk split, 1 thread",
    "floor-1": "parse floor, 1 thread",
    "floor-n": f"parse floor, {threads} threads",
    "floor-write": f"write floor (parse floor + copy out + write), {threads} threads",
    "t2p-zstd-in": f"t2p, zstd input (-3), {threads} threads",
    "t2p-csv": f"t2p, CSV HTTP layout, {threads} threads",
    "t2p-out-zstd1": f"t2p, --compress zstd level 1, {threads} threads",
    "t2p-out-zstd3": f"t2p, --compress zstd level 3, {threads} threads",
    "t2p-filters": f"t2p, --since/--until/--types/--exclude-events keeping all, {threads} threads",
    "t2p-transform": f"t2p, --transform (3 lines of jq), {threads} threads",
}
order = ["t2p", "t2p-1t", "duckdb", "jq", "floor-1", "floor-n", "floor-write", "t2p-zstd-in", "t2p-csv",
         "t2p-out-zstd1", "t2p-out-zstd3", "t2p-filters", "t2p-transform"]
one_thread = {"t2p-1t", "jq", "floor-1"}  # compared with the 1-thread floor


def stats(tool, size):
    rs = by.get((tool, size))
    if not rs:
        return None
    walls = [float(r["wall"]) for r in rs]
    s = {
        "wall": statistics.median(walls), "min": min(walls), "max": max(walls),
        "cpu": statistics.median(float(r["user"]) + float(r["sys"]) for r in rs),
        "rss": max(int(r["rss_kb"]) for r in rs) / 1024,
        "in_bytes": int(rs[0]["in_bytes"]), "lines": int(rs[0]["in_lines"]),
        "file_bytes": int(rs[0]["file_bytes"]), "calls": int(rs[0]["calls"]),
        "out": int(rs[0]["out_bytes"]) / 2**20,
    }
    s["mbps"] = s["in_bytes"] / 1e6 / max(s["wall"], 1e-3)
    return s


def ratio(a, b):
    return f"{a['mbps'] / b['mbps']:.2f}" if a and b else "–"


now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
out = ["# track2pipelines vs DuckDB, jq and a parse-only floor", ""]
if quick:
    out += ["**Quick mode (`--quick`): a small corpus and few runs: rough figures, not a "
            "measurement.**", ""]
out += [
    f"Generated by `benches/compare.sh` on {now}: {E['R_CPU']}, {E['R_NPROC']} cores, "
    f"{E['R_MEM']}; load average {E['R_LOAD_START']} at the start, {E['R_LOAD_END']} at the "
    f"end. track2pipelines {E['R_GIT_REV']}, DuckDB {E['R_DUCKDB']}, {E['R_JQ']}. Corpora: "
    f"`gen_corpus --seed {E['R_SEED']}` (NDJSON; the CSV HTTP-calls layout for the CSV row).",
    "",
    f"Each contender ran {E['R_RUNS']} time(s) per corpus, the runs alternating between "
    "contenders; figures are medians (wall-time range in brackets), peak RSS the largest seen. "
    "MB = 10^6 bytes of input (the decompressed input for the zstd row, the CSV file for the "
    "CSV row); lines/s counts input lines. **vs DuckDB** = MB/s ÷ DuckDB's MB/s on the same "
    "corpus (> 1: faster than DuckDB). **vs floor** = MB/s ÷ the MB/s of the parse floor with "
    "the same number of threads (1.00: as fast as parsing alone).",
    "",
    "| tool | corpus | MB/s | lines/s | wall s | CPU s | peak RSS MiB | calls out | out MiB | vs DuckDB | vs floor |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for size in sizes:
    duck = stats("duckdb", size)
    for tool in order:
        s = stats(tool, size)
        if s is None:
            if tool == "jq" and size > skip_jq:
                out.append(f"| {labels[tool]} | {size} MiB | skipped (jq runs only on corpora "
                           f"up to {skip_jq} MiB, `--skip-jq-above`) | | | | | | | | |")
            continue
        floor = stats("floor-1" if tool in one_thread or threads == 1 else "floor-n", size)
        corpus = f"{size} MiB"
        if tool == "t2p-zstd-in":
            corpus += f" (.zst: {s['file_bytes'] / 2**20:.0f} MiB)"
        if tool == "t2p-csv":
            corpus += f" CSV ({s['file_bytes'] / 2**20:.0f} MiB)"
        calls = "–" if tool.startswith("floor") else f"{s['calls']:,}"
        out.append(
            f"| {labels[tool]} | {corpus} | {s['mbps']:.1f} | {s['lines'] / s['wall']:,.0f} | "
            f"{s['wall']:.2f} ({s['min']:.2f}–{s['max']:.2f}) | {s['cpu']:.2f} | {s['rss']:.0f} | "
            f"{calls} | {s['out']:.0f} | {ratio(s, duck)} | {ratio(s, floor)} |")
out += [
    "",
    "What the jobs do:",
    "",
    "- **track2pipelines**: `convert --partition-by type`: the full mapping, derived ULID "
    "messageIds, the error file, a manifest with xxh3-128 checksums (exit 3: the corpora hold "
    "~1% bad lines).",
    "- **DuckDB** (`benches/duckdb_job.py`): `read_ndjson` with explicit columns and "
    "`ignore_errors`, a SQL mapping of v1 identify and events, v2 person "
    "identify/event/page/screen, groups (object identify, add_relationships, v1 "
    "cio_relationships), batches and envelopes, timestamps; `COPY … (FORMAT json, "
    "PARTITION_BY (type))`. No devices, deletes, suppressions, merges, delivery metrics or "
    "relationship deletes, no validation or error file, hash-based messageIds, null for absent "
    "keys: it writes fewer calls (*calls out*).",
    "- **jq** (`benches/map.jq`): the same subset as the DuckDB job with `jq -R -c` and "
    "`fromjson?` (bad lines dropped), piped into an awk one-liner that writes one file per type "
    "(jq cannot partition). jq 1.6 turns big integers into doubles; messageIds are line numbers.",
    "- **parse floor** (`examples/parse_floor.rs`): reads the file in 2 MiB blocks, splits lines "
    "with memchr and parses each with `RawMap::parse`, the converter's top-level parser; nothing "
    "is translated or written.",
    "- **write floor** (`parse_floor --write`): the parse floor, plus each parsed line copied "
    "into its block's output buffer and the blocks written in input order to one file with an "
    "xxh3-128 checksum, as the converter's writer does: the least any conversion does (read, "
    "parse, copy out, write each byte once). Its *vs floor* shows what writing alone costs.",
]
text = "\n".join(out) + "\n"
# Sections written by hand after the table (each opens with "## ") are kept.
if os.path.exists(results):
    old = open(results).read().split("\n")
    kept = next((i for i, line in enumerate(old) if line.startswith("## ")), None)
    if kept is not None:
        text += "\n" + "\n".join(old[kept:]).rstrip("\n") + "\n"
open(results, "w").write(text)
print(text)
PY
log "table written to $RESULTS; per-run figures in $RUNS_TSV"
