#!/usr/bin/env bash
# The files of the compilers and toolchain, which BOSH's remove_dev_tools
# deletes on VMs that should not compile: /var/vcap/bosh/etc/dev_tools_file_list
# in the image, dev_tools_file_list.txt in the stemcell. Regular files only.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

mkdir -p "$STEMCELL_OUTPUT_DIR" "$CHROOT/var/vcap/bosh/etc"
pattern="$(data_lines "$ASSETS/packages.txt" | paste -sd'|')"
list="$CHROOT/var/vcap/bosh/etc/dev_tools_file_list"
if dry_run; then
  record "chroot: dpkg-query for ^($pattern)\$"
  : >"$list"
else
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  chroot_run dpkg-query --show --showformat='${Package}\n' | grep -E "^($pattern)\$" |
    while read -r package; do chroot_run dpkg-query --listfiles "$package"; done |
    sort -u | while read -r file; do
      if [[ -f "$CHROOT$file" && ! -L "$CHROOT$file" ]]; then printf '%s\n' "$file"; fi
    done >"$list"
fi
chmod 0644 "$list"
cp "$list" "$STEMCELL_OUTPUT_DIR/dev_tools_file_list.txt"
log "$(wc -l <"$list") files of development tools listed"
