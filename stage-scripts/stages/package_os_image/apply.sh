#!/usr/bin/env bash
# The OS image tarball: the chroot, names sorted and mtimes clamped to
# SOURCE_DATE_EPOCH so equal trees give equal archives, file capabilities kept,
# compressed on every core, fast rather than small (it is an intermediate:
# stemcell builds unpack it). Also the package list for the build record.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

[[ -n "$STEMCELL_OS_IMAGE_OUT" ]] || fail "STEMCELL_OS_IMAGE_OUT is not set"
if findmnt --list --noheadings --output TARGET | grep "^$CHROOT/" >/dev/null; then
  fail "something is still mounted below $CHROOT; it would end up in the image"
fi
# shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
chroot_run dpkg-query --show --showformat='${Package}\t${Version}\n' >"$STEMCELL_WORK/packages.tsv"

out="$(partial_output "$STEMCELL_OS_IMAGE_OUT")"
tar --create --directory="$CHROOT" --sort=name --numeric-owner \
  --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime \
  --xattrs --xattrs-include='security.capability' \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  . | pigz --fast --no-name --processes "$(nproc)" >"$out"
publish_output "$STEMCELL_OS_IMAGE_OUT"
log "wrote $STEMCELL_OS_IMAGE_OUT ($(du -h "$STEMCELL_OS_IMAGE_OUT" | cut -f1))"
