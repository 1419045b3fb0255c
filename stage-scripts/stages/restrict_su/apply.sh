#!/usr/bin/env bash
# Only members of bosh_sudoers may use su (pam_wheel); everyone else is
# refused before a password is even asked for.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

pam_su="$CHROOT/etc/pam.d/su"
[[ -f "$pam_su" ]] || fail "/etc/pam.d/su is missing; is login installed?"
# Drop any pam_wheel line the distribution has (commented or not), then put ours first.
sed -i -E '/pam_wheel\.so/d' "$pam_su"
sed -i '1i auth       required   pam_wheel.so use_uid group=bosh_sudoers' "$pam_su"
log "su restricted to bosh_sudoers"
