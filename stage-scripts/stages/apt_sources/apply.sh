#!/usr/bin/env bash
# APT sources of the image: release, updates and security pockets, from the
# configured mirror or a dated snapshot. The build-time proxy goes in a file of
# its own, which the clean stage removes: a proxy baked into a stemcell would
# break every VM deployed from it.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

codename="$STEMCELL_OS_CODENAME"
main_suites="$codename $codename-updates"
keyring="/usr/share/keyrings/$STEMCELL_OS_DISTRO-archive-keyring.gpg"
file="/etc/apt/sources.list.d/$STEMCELL_OS_DISTRO.sources"

write_file "$file" 0644 <<SOURCES
Types: deb
URIs: $STEMCELL_MIRROR
Suites: $main_suites
Components: $STEMCELL_COMPONENTS
Signed-By: $keyring

Types: deb
URIs: $STEMCELL_SECURITY_MIRROR
Suites: $codename-security
Components: $STEMCELL_COMPONENTS
Signed-By: $keyring
SOURCES
# One source of truth: the one-line format file mmdebstrap wrote goes.
rm -f "$CHROOT/etc/apt/sources.list"

write_build_apt_config

# Recommends stay out of the image for good, not only during the build.
write_file /etc/apt/apt.conf.d/80stemcell-no-recommends 0644 <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
log "sources: $STEMCELL_MIRROR ($main_suites), $STEMCELL_SECURITY_MIRROR ($codename-security)${STEMCELL_SNAPSHOT:+, snapshot $STEMCELL_SNAPSHOT}"
