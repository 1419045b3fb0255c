#!/usr/bin/env bash
# PAM password and lockout policy (docs/hardening.md): lock an account for 15
# minutes after 3 failures (pam_faillock), passwords of at least 14 characters from
# several classes (pam_pwquality), no reuse of the last 24 (pam_pwhistory), no
# empty passwords (no nullok anywhere).
#
# Debian and Ubuntu ship the same modules (libpam-modules, libpam-pwquality),
# so one set of common-* files serves both. They differ in who rewrites those
# files: both run pam-auth-update from package scripts, which leaves files it
# did not write alone; we record that we own them by replacing the files
# wholesale rather than editing the generated ones.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package libpam-pwquality
for file in common-auth common-account common-password; do
  install_asset "$file" "/etc/pam.d/$file" 0644
done
install_asset faillock.conf /etc/security/faillock.conf 0644
install_asset pwquality.conf /etc/security/pwquality.conf 0644
# Any nullok would let an account with an empty password in.
if [[ -d "$CHROOT/etc/pam.d" ]]; then
  find "$CHROOT/etc/pam.d" -type f -exec sed -i -E 's/[[:space:]]+nullok(_secure)?\b//g' {} +
fi
# New home directories and files private by default.
if [[ -f "$CHROOT/etc/login.defs" ]]; then
  sed -i -E 's/^UMASK[[:space:]].*/UMASK\t\t077/' "$CHROOT/etc/login.defs"
fi
log "faillock deny=3, pwquality minlen=14, pwhistory remember=24, nullok removed"
