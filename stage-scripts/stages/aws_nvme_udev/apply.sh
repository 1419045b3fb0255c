#!/usr/bin/env bash
# On Nitro instances EBS volumes are NVMe devices; these udev rules add the
# /dev/sdX (or /dev/xvdX) names given at attach time, which the AWS CPI and the
# agent use, read from the controller's vendor data with nvme-cli.
# shellcheck source=../../lib/common.sh
source "$STEMCELL_LIB/common.sh"

require_package nvme-cli udev
install_asset ebsnvme-id /usr/local/sbin/ebsnvme-id 0755
install_asset 70-ec2-nvme-devices.rules /etc/udev/rules.d/70-ec2-nvme-devices.rules 0644
log "EBS NVMe device names by udev"
