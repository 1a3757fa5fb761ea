#!/usr/bin/env bash
# A long fuzzing campaign over every target, in chunks, resumable across runs and sessions.
#
#   bash scripts/fuzz-campaign.sh --dir /work/fuzz-campaign [--until HH:MM] [--jobs N] [--chunk SECONDS]
#                                 [--goal EXECS] [--bin DIR] [TARGET...]
#
# Keeps everything in DIR, outside the repository: DIR/out/TARGET is afl-fuzz's output directory (the corpus, the
# queue, crashes/ and hangs/), DIR/ledger.tsv one line per chunk. Each chunk runs afl-fuzz for --chunk seconds (300)
# on the target with the fewest executions so far that is below --goal (10,000,000) and not already running, --jobs
# (2) at a time, until --until (a wall-clock time, default: 1 hour from now) or every target reached the goal.
# A target's first chunk seeds from the corpus as scripts/fuzz.sh does; later chunks resume (afl-fuzz -i -), so the
# corpus and the execution count carry over. afl-fuzz keeps execs_done cumulative across resumes; the ledger records
# each chunk's own executions (execs_done after − before) and the summary sums those per target.
# --bin: an already instrumented publish (scripts/fuzz.sh leaves one in artifacts/fuzz/bin); without it the script
# publishes and instruments into DIR/bin-TIMESTAMP. Run it under `nice -n 19` on a shared machine.
# Prints the summary table at the end (also: bash scripts/fuzz-campaign.sh --dir DIR --summary).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=""; until_hm=""; jobs=2; chunk=300; goal=10000000; bin=""; summary_only=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --until) until_hm="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --chunk) chunk="$2"; shift 2 ;;
    --goal) goal="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    --summary) summary_only=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "fuzz-campaign.sh: unknown option $1" >&2; exit 64 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ -n "$dir" ] || { echo "fuzz-campaign.sh: --dir is required (keep it outside the repository)" >&2; exit 64; }
mkdir -p "$dir/out"
dir=$(cd "$dir" && pwd)
ledger=$dir/ledger.tsv
touch "$dir/failed"
[ -f "$ledger" ] || printf 'ended_utc\ttarget\tseconds\texecs\texecs_per_sec\tcorpus\tcrashes\thangs\tload1\n' > "$ledger"

summed() { awk -F'\t' -v t="$1" 'NR>1 && $2==t {s+=$4} END {print s+0}' "$ledger"; }
summary() {
  printf '%-12s %14s %7s %8s %8s %6s\n' target "execs (sum)" chunks corpus crashes hangs
  local t
  for t in $(awk -F'\t' 'NR>1 {print $2}' "$ledger" | sort -u); do
    local stats=$dir/out/$t/default/fuzzer_stats
    local corpus=? crashes=? hangs=?
    if [ -f "$stats" ]; then
      corpus=$(awk -F' *: *' '$1=="corpus_count" {print $2}' "$stats")
      crashes=$(awk -F' *: *' '$1=="saved_crashes" {print $2}' "$stats")
      hangs=$(awk -F' *: *' '$1=="saved_hangs" {print $2}' "$stats")
    fi
    printf '%-12s %14s %7s %8s %8s %6s\n' "$t" "$(summed "$t")" "$(awk -F'\t' -v t="$t" 'NR>1 && $2==t {n++} END {print n+0}' "$ledger")" "$corpus" "$crashes" "$hangs"
  done
}
if [ "$summary_only" = 1 ]; then summary; exit 0; fi

if [ -n "$until_hm" ]; then deadline=$(date -d "$until_hm" +%s); else deadline=$(( $(date +%s) + 3600 )); fi
command -v afl-fuzz >/dev/null || { echo "fuzz-campaign.sh: afl-fuzz missing (scripts/fuzz.sh installs it)" >&2; exit 69; }
if [ -z "$bin" ]; then
  dotnet tool restore >/dev/null
  bin=$dir/bin-$(date +%Y%m%d%H%M%S)
  dotnet publish fuzz/HikShareGateway.Fuzz -c Release -o "$bin" --nologo -v q >/dev/null
  for a in HikShareGateway.Core HikShareGateway.Media HikShareGateway.Rtsp HikShareGateway.Onvif HikShareGateway.Access HikShareGateway.Http HikShareGateway.WebRtc; do
    dotnet sharpfuzz "$bin/$a.dll" >/dev/null
  done
fi
bin=$(cd "$bin" && pwd)
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(dotnet "$bin/hikshare-fuzz.dll" --list)

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
       AFL_FORKSRV_INIT_TMOUT=60000 AFL_QUIET=1 DOTNET_TieredCompilation=0 DOTNET_GCgen0size=0x4000000
shm=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then shm=$(mktemp -d /dev/shm/hikshare-campaign.XXXXXX); fi
trap '[ -n "$shm" ] && rm -rf "$shm"' EXIT

stat_of() { awk -F' *: *' -v k="$2" '$1==k {print $2}' "$1" 2>/dev/null || true; }

run_chunk() { # target seconds
  local t=$1 seconds=$2 out=$dir/out/$1 input
  local stats=$out/default/fuzzer_stats before=0
  if [ -f "$stats" ]; then
    input=-; before=$(stat_of "$stats" execs_done)
  else
    input=$dir/seeds/$t
    rm -rf "$input"; mkdir -p "$input"
    [ -d "fuzz/corpus/$t" ] && cp fuzz/corpus/"$t"/* "$input"/ 2>/dev/null || true
    local fx=../shared/fixtures
    case "$t" in
      rtsp) [ -d $fx/rtsp ] && cp $fx/rtsp/*.txt "$input"/ ;;
      sdp) [ -d $fx/rtsp ] && for f in $fx/rtsp/*describe*.txt; do sed -n '/^v=0/,$p' "$f" > "$input/$(basename "$f" .txt).sdp"; done ;;
      soap) [ -d $fx/onvif ] && find $fx/onvif -name '*.xml' -size -64k | head -40 | while read -r f; do cp "$f" "$input/$(echo "$f" | tr / _)"; done ;;
    esac
    find "$input" -type f -empty -delete
    [ -n "$(ls -A "$input")" ] || printf 'x' > "$input/minimal"
  fi
  local tmp=""; if [ -n "$shm" ]; then tmp=$shm/$t; rm -rf "$tmp"; mkdir -p "$tmp"; fi
  if ! AFL_TMPDIR=${tmp:-$out} afl-fuzz -i "$input" -o "$out" -V "$seconds" -t "${FUZZ_TIMEOUT_MS:-2000}" -m none -- \
    dotnet "$bin/hikshare-fuzz.dll" "$t" >> "$dir/afl-$t.log" 2>&1; then
    echo "fuzz-campaign.sh: afl-fuzz failed on $t (see $dir/afl-$t.log)" >&2
    echo "$t" >> "$dir/failed"
    return 0
  fi
  [ -f "$stats" ] || return 0
  local after; after=$(stat_of "$stats" execs_done)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$seconds" "$(( after - before ))" \
    "$(stat_of "$stats" execs_per_sec)" "$(stat_of "$stats" corpus_count)" "$(stat_of "$stats" saved_crashes)" \
    "$(stat_of "$stats" saved_hangs)" "$(cut -d' ' -f1 /proc/loadavg)" >> "$ledger"
}

declare -A running=()
next_target() { # the target with the fewest executions below the goal that is not running
  local best="" best_n=-1 t n
  for t in "${targets[@]}"; do
    [ -n "${running[$t]:-}" ] && continue
    # a target whose afl-fuzz failed to start three times (see its log) is left out
    [ "$(grep -cx "$t" "$dir/failed" 2>/dev/null || true)" -ge 3 ] && continue
    n=$(summed "$t")
    [ "$n" -ge "$goal" ] && continue
    if [ "$best_n" -lt 0 ] || [ "$n" -lt "$best_n" ]; then best=$t; best_n=$n; fi
  done
  echo "$best"
}
while true; do
  for t in "${!running[@]}"; do
    kill -0 "${running[$t]}" 2>/dev/null || unset "running[$t]"
  done
  left=$(( deadline - $(date +%s) ))
  if [ "$left" -ge 60 ] && [ "${#running[@]}" -lt "$jobs" ]; then
    t=$(next_target)
    if [ -n "$t" ]; then
      s=$chunk; [ "$s" -le "$left" ] || s=$left
      run_chunk "$t" "$s" &
      running[$t]=$!
      continue
    fi
  fi
  [ "${#running[@]}" -gt 0 ] || break
  wait -n || true
done
summary
