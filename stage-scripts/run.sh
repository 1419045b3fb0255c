#!/usr/bin/env bash
# Runs a collection (an ordered list of stages) against a work directory, the
# same way on a builder instance and on a laptop.
#
#   run.sh --work DIR --collection FILE [--resume-from STAGE]
#
# DIR must hold settings.env (rendered by `stemcell build-os-image`). The runner
# keeps per-stage logs in DIR/logs, a duration report in DIR/report.tsv and the
# stages that finished in DIR/completed. Whatever happens, it leaves no mounts
# below DIR and no loop devices backed by files below DIR; a chroot in memory
# is saved to DIR/chroot on disk first, unless the build finished (and
# STEMCELL_KEEP_CHROOT is not 1).
set -euo pipefail

STAGE_SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly STAGE_SCRIPTS

usage() {
  cat <<'USAGE'
Usage: run.sh --work DIR --collection FILE [--resume-from STAGE]

Stages are looked up in stage-scripts/stages, then in each directory of
STEMCELL_STAGES_PATH (colon-separated), so a collection may name stages of
your own without forking this repository.
USAGE
}

die() {
  printf 'run.sh: %s\n' "$*" >&2
  exit 2
}

WORK=""
COLLECTION=""
RESUME_FROM=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --work) WORK="${2:?--work needs a directory}"; shift 2 ;;
    --collection) COLLECTION="${2:?--collection needs a file}"; shift 2 ;;
    --resume-from) RESUME_FROM="${2:?--resume-from needs a stage name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ -n "$WORK" && -n "$COLLECTION" ]] || { usage >&2; die "--work and --collection are required"; }
[[ -d "$WORK" ]] || die "work directory $WORK does not exist"
[[ -f "$WORK/settings.env" ]] || die "$WORK/settings.env is missing; start builds with 'stemcell build-os-image'"
[[ -f "$COLLECTION" ]] || die "collection $COLLECTION does not exist"
WORK="$(cd "$WORK" && pwd -P)"
readonly WORK COLLECTION RESUME_FROM

# A second build in the same work directory would fight over mounts and files.
exec 9>"$WORK/.lock"
if ! flock --nonblock 9; then
  die "another build is running in $WORK (lock $WORK/.lock is held); wait for it or use another work directory"
fi

mapfile -t STAGES < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$COLLECTION")
[[ ${#STAGES[@]} -gt 0 ]] || die "collection $COLLECTION names no stages"

stage_dir() {
  local name="$1" dir
  local -a path=("$STAGE_SCRIPTS/stages")
  if [[ -n "${STEMCELL_STAGES_PATH:-}" ]]; then
    local -a extra
    IFS=: read -r -a extra <<<"$STEMCELL_STAGES_PATH"
    path+=("${extra[@]}")
  fi
  for dir in "${path[@]}"; do
    if [[ -f "$dir/$name/apply.sh" ]]; then
      printf '%s\n' "$dir/$name"
      return 0
    fi
  done
  return 1
}

# Check the whole collection before touching anything.
for stage in "${STAGES[@]}"; do
  stage_dir "$stage" >/dev/null || die "stage '$stage' (in $COLLECTION) has no apply.sh in stage-scripts/stages or STEMCELL_STAGES_PATH"
done

start_index=0
if [[ -n "$RESUME_FROM" ]]; then
  found=""
  for i in "${!STAGES[@]}"; do
    if [[ "${STAGES[$i]}" == "$RESUME_FROM" ]]; then found="$i"; break; fi
  done
  [[ -n "$found" ]] || die "cannot resume from '$RESUME_FROM': not in the collection (stages: ${STAGES[*]})"
  for ((i = 0; i < found; i++)); do
    grep -qxF "${STAGES[$i]}" "$WORK/completed" 2>/dev/null ||
      die "cannot resume from '$RESUME_FROM': the earlier stage '${STAGES[$i]}' never completed in $WORK; resume from '${STAGES[$i]}' instead"
  done
  start_index="$found"
fi

mkdir -p "$WORK/logs"
: >"$WORK/report.tsv"
# What is re-run is no longer completed, whatever an earlier run recorded.
printf '%s\n' "${STAGES[@]:0:start_index}" | sed '/^$/d' >"$WORK/completed"

# Mount points below WORK, deepest first. mountinfo escapes blanks as \040.
mounts_below_work() {
  local mountpoint
  while read -r _ _ _ _ mountpoint _; do
    mountpoint="$(printf '%b' "$mountpoint")"
    # Below WORK only: a work directory that is itself a mount point stays mounted.
    if [[ "$mountpoint" == "$WORK"/* ]]; then printf '%s\n' "$mountpoint"; fi
  done </proc/self/mountinfo | sort -r
}

loops_below_work() {
  local name backing
  while read -r name backing; do
    backing="${backing% (deleted)}"
    if [[ "$backing" == "$WORK"/* ]]; then printf '%s\n' "$name"; fi
  done < <(losetup --list --noheadings --output NAME,BACK-FILE 2>/dev/null || true)
}

# A chroot in memory (common.sh fresh_chroot) is copied to disk before it is
# unmounted, so --resume-from finds it, unless the build finished and its
# work directory goes (STEMCELL_KEEP_CHROOT=1 keeps it).
SAVE_CHROOT=1
release_chroot_in_memory() {
  local chroot="$WORK/chroot" saved="$WORK/chroot.saved"
  if [[ "$SAVE_CHROOT" == 1 ]]; then
    printf 'run.sh: saving the chroot from memory to %s (for --resume-from)\n' "$chroot" >&2
    rm -rf --one-file-system "$saved"
    # In a session of its own: a second Ctrl-C at the terminal must not cut the copy short.
    if ! setsid --wait cp -a "$chroot" "$saved"; then
      rm -rf --one-file-system "$saved"
      # Nothing finished is kept, so --resume-from refuses every stage but the first.
      : >"$WORK/completed"
      printf 'run.sh: could not save the chroot (is %s full?); run the build again from the start, without --resume-from\n' "$WORK" >&2
    fi
  fi
  umount "$chroot" 2>/dev/null || umount --lazy "$chroot" || printf 'run.sh: could not unmount %s\n' "$chroot" >&2
  if [[ -d "$saved" ]] && rmdir "$chroot"; then mv "$saved" "$chroot"; fi
}

release_system_resources() {
  local mountpoint loop in_memory=""
  while read -r mountpoint; do
    [[ -n "$mountpoint" ]] || continue
    # Deepest first: what is mounted inside the chroot goes before the chroot itself.
    # A tmpfs there is the chroot in memory (common.sh fresh_chroot).
    if [[ "$mountpoint" == "$WORK/chroot" && "$(findmnt --noheadings --output FSTYPE --mountpoint "$mountpoint")" == tmpfs ]]; then
      in_memory=1
      continue
    fi
    umount "$mountpoint" 2>/dev/null || umount --lazy "$mountpoint" || printf 'run.sh: could not unmount %s\n' "$mountpoint" >&2
  done < <(mounts_below_work)
  if [[ -n "$in_memory" ]]; then release_chroot_in_memory; fi
  while read -r loop; do
    [[ -n "$loop" ]] || continue
    losetup --detach "$loop" || printf 'run.sh: could not detach %s\n' "$loop" >&2
  done < <(loops_below_work)
  # Outputs are written as *.partial and renamed when complete; a stopped
  # stage leaves only the partial file, which goes.
  if [[ -f "$WORK/partials" ]]; then
    while read -r partial; do
      [[ -n "$partial" ]] && rm -f -- "$partial"
    done <"$WORK/partials"
    rm -f "$WORK/partials"
  fi
}

# A runner killed outright (the OOM killer, kill -9) could release nothing;
# with the lock held, whatever is still mounted or attached below WORK is a
# leftover, released before any stage runs.
release_system_resources

declare -A STATUS=() SECONDS_TAKEN=()
elapsed_since() {
  awk -v start="$1" -v end="$EPOCHREALTIME" 'BEGIN { printf "%.1f", end - start }'
}

print_report() {
  local stage
  printf '\n%-32s %-12s %8s\n' STAGE STATUS SECONDS
  for stage in "${STAGES[@]}"; do
    printf '%-32s %-12s %8s\n' "$stage" "${STATUS[$stage]:-not run}" "${SECONDS_TAKEN[$stage]:--}"
    printf '%s\t%s\t%s\n' "$stage" "${STATUS[$stage]:-not run}" "${SECONDS_TAKEN[$stage]:-}" >>"$WORK/report.tsv"
  done
  printf '%-32s %-12s %8s\n' total "" "$(printf '%s\n' "${SECONDS_TAKEN[@]}" | awk '{ t += $1 } END { printf "%.1f", t }')"
}

CURRENT_PID=""
INTERRUPTED=""
on_signal() {
  INTERRUPTED="$1"
  if [[ -n "$CURRENT_PID" ]]; then kill -TERM -- "-$CURRENT_PID" 2>/dev/null || true; fi
}
# A member of process group $1 that is not a zombie (a zombie holds nothing,
# and PID 1 in a container may be slow to reap it).
group_alive() {
  local stat line state pgrp
  for stat in /proc/[0-9]*/stat; do
    { read -r line <"$stat"; } 2>/dev/null || continue
    read -r state _ pgrp _ <<<"${line##*) }"
    if [[ "$pgrp" == "$1" && "$state" != Z ]]; then return 0; fi
  done
  return 1
}

# signal_group_until_gone GROUP SIGNAL: send it, then wait up to 10 s.
signal_group_until_gone() {
  local tries
  kill -"$2" -- "-$1" 2>/dev/null || true
  for ((tries = 0; tries < 100; tries++)); do
    group_alive "$1" || return 0
    sleep 0.1
  done
  return 1
}

# Nothing a stage started outlives it: a process left in its group could still
# write below a mount point that is about to go, or hold it busy.
stop_stragglers() {
  group_alive "$1" || return 0
  signal_group_until_gone "$1" TERM && return 0
  printf 'run.sh: processes of the stage ignored SIGTERM for 10 s; killing them\n' >&2
  signal_group_until_gone "$1" KILL && return 0
  printf 'run.sh: processes of the stage (group %s) are still running\n' "$1" >&2
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap release_system_resources EXIT

stop_interrupted() {
  STATUS[$1]="interrupted"
  release_system_resources
  print_report
  printf '\nrun.sh: interrupted (SIG%s) during stage %s; mounts and loop devices released.\n' "$INTERRUPTED" "$1" >&2
  printf 'run.sh: resume with --resume-from %s\n' "$1" >&2
  [[ "$INTERRUPTED" == INT ]] && exit 130 || exit 143
}

for i in "${!STAGES[@]}"; do
  stage="${STAGES[$i]}"
  if ((i < start_index)); then STATUS[$stage]="skipped"; continue; fi
  # A signal between two stages stops the build before the next one starts.
  if [[ -n "$INTERRUPTED" ]]; then stop_interrupted "$stage"; fi
  dir="$(stage_dir "$stage")"
  log="$WORK/logs/$(printf '%02d' "$i")-$stage.log"
  printf '\n==> stage %s (%d/%d)\n' "$stage" "$((i + 1))" "${#STAGES[@]}"
  started=$EPOCHREALTIME
  # Its own session, so an interrupt stops the stage and everything it started.
  STEMCELL_WORK="$WORK" STEMCELL_CHROOT="$WORK/chroot" STEMCELL_SETTINGS="$WORK/settings.env" \
    STEMCELL_STAGE="$stage" STEMCELL_STAGE_DIR="$dir" STEMCELL_LIB="$STAGE_SCRIPTS/lib" \
    setsid bash "$dir/apply.sh" > >(tee "$log") 2>&1 &
  CURRENT_PID=$!
  rc=0
  while true; do
    wait "$CURRENT_PID" && rc=0 || rc=$?
    # A trapped signal interrupts wait; keep waiting for the stage to exit.
    if [[ -n "$INTERRUPTED" ]] && kill -0 "$CURRENT_PID" 2>/dev/null; then continue; fi
    break
  done
  stop_stragglers "$CURRENT_PID"
  CURRENT_PID=""
  SECONDS_TAKEN[$stage]="$(elapsed_since "$started")"
  if [[ -n "$INTERRUPTED" ]]; then stop_interrupted "$stage"; fi
  if [[ $rc -ne 0 ]]; then
    STATUS[$stage]="failed"
    release_system_resources
    printf '\n--- last lines of %s ---\n' "$log" >&2
    tail -n 40 "$log" >&2 || true
    print_report
    printf '\nrun.sh: stage %s failed (exit %d); its log is %s\n' "$stage" "$rc" "$log" >&2
    printf 'run.sh: fix the cause, then resume with --resume-from %s\n' "$stage" >&2
    exit 1
  fi
  STATUS[$stage]="ok"
  printf '%s\n' "$stage" >>"$WORK/completed"
done

SAVE_CHROOT="${STEMCELL_KEEP_CHROOT:-0}"
release_system_resources
print_report
