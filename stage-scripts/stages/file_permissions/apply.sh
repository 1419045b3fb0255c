#!/usr/bin/env bash
# Permissions hardening over the whole image, after every package is in:
# shadow files unreadable (0000), setuid/setgid bits kept only on the programs
# of assets/setuid-allowed.txt (su, sudo, sudoedit), no world-writable files,
# sticky bits on world-writable directories (docs/hardening.md).
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

for file in shadow gshadow shadow- gshadow-; do
  if [[ -e "$CHROOT/etc/$file" ]]; then chmod 0000 "$CHROOT/etc/$file"; fi
done
chmod 0644 "$CHROOT/etc/passwd" "$CHROOT/etc/group"

mapfile -t keep_setuid < <(data_lines "$ASSETS/setuid-allowed.txt")
stripped=0
while IFS= read -r -d '' file; do
  path="/${file#"$CHROOT"/}"
  if [[ " ${keep_setuid[*]} " == *" $path "* ]]; then continue; fi
  chmod u-s,g-s "$file"
  stripped=$((stripped + 1))
done < <(find "$CHROOT" -xdev -type f -perm /6000 -print0)

fixed=0
while IFS= read -r -d '' file; do
  chmod o-w "$file"
  fixed=$((fixed + 1))
done < <(find "$CHROOT" -xdev -type f -perm -0002 -print0)
find "$CHROOT" -xdev -type d -perm -0002 ! -perm -1000 -exec chmod +t {} +
log "shadow files 0000; stripped setuid/setgid from $stripped files; removed world write from $fixed files"
