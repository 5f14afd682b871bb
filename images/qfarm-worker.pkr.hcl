# ECS custom image for qfarm workers: Debian 12 + Node 20 (from nodejs.org) + Blender + the
# qfarm agent as a systemd unit. Build:
#   npm pack                                  # → qfarm-<version>.tgz in the repo root
#   export ALICLOUD_ACCESS_KEY=… ALICLOUD_SECRET_KEY=…
#   packer init images/qfarm-worker.pkr.hcl
#   packer build -var region=cn-shenzhen -var qfarm_tarball=qfarm-0.1.0.tgz images/qfarm-worker.pkr.hcl
# Then use the printed image id (m-…) as the group's `image`. The agent starts at boot and reads
# the master address and token from the instance user data (scripts/bootstrap/).
# Not built in CI here: no Alibaba account; the shell steps are the same as the bootstrap's.

packer {
  required_plugins {
    alicloud = {
      source  = "github.com/hashicorp/alicloud"
      version = "~> 1"
    }
  }
}

variable "region" {
  type    = string
  default = "cn-shenzhen"
}

variable "source_image" {
  type        = string
  description = "A Debian 12 public image id of the region (aliyun_… or debian_12_…)."
  default     = "debian_12_7_x64_20G_alibase_20241023.vhd"
}

variable "instance_type" {
  type    = string
  default = "ecs.c6.large"
}

variable "qfarm_tarball" {
  type        = string
  description = "Path to the `npm pack` tarball of qfarm."
}

variable "node_version" {
  type        = string
  default     = "20.19.5"
  description = "Node.js 20 release installed from nodejs.org (checked against its SHASUMS256.txt)."
}

variable "with_blender" {
  type    = bool
  default = true
}

source "alicloud-ecs" "qfarm_worker" {
  region                     = var.region
  source_image               = var.source_image
  instance_type              = var.instance_type
  image_name                 = "qfarm-worker-${formatdate("YYYYMMDDhhmm", timestamp())}"
  image_description          = "qfarm worker: Node 20, qfarm agent (systemd), Blender"
  ssh_username               = "root"
  internet_charge_type       = "PayByTraffic"
  internet_max_bandwidth_out = 10
  io_optimized               = true
  image_force_delete         = false

  system_disk_mapping {
    disk_category = "cloud_essd"
    disk_size     = 40
  }

  tags = {
    "qfarm:image" = "worker"
  }
}

build {
  sources = ["source.alicloud-ecs.qfarm_worker"]

  provisioner "file" {
    source      = var.qfarm_tarball
    destination = "/tmp/qfarm.tgz"
  }

  provisioner "shell" {
    environment_vars = ["DEBIAN_FRONTEND=noninteractive", "WITH_BLENDER=${var.with_blender}"]
    inline = [
      "set -eux",
      "apt-get update -q",
      # Node 20 from nodejs.org, checked against its published SHA-256 (Debian 12's nodejs is 18).
      # No s3fs: the agent mounts OSS with ossfs when present (Alibaba's .deb, not in Debian) and
      # otherwise stages inputs into its cache; install ossfs here to mount instead.
      "apt-get install -y -q ca-certificates curl xz-utils python3 make g++ nfs-common",
      "cd /tmp && curl -fsSLO https://nodejs.org/dist/v${var.node_version}/node-v${var.node_version}-linux-x64.tar.xz",
      "cd /tmp && curl -fsSL https://nodejs.org/dist/v${var.node_version}/SHASUMS256.txt | grep \" node-v${var.node_version}-linux-x64.tar.xz$\" | sha256sum -c -",
      "tar -xJf /tmp/node-v${var.node_version}-linux-x64.tar.xz -C /usr/local --strip-components=1 --no-same-owner && rm /tmp/node-v*.tar.xz",
      "if [ \"$WITH_BLENDER\" = true ]; then apt-get install -y -q --no-install-recommends blender; fi",
      "node --version",
      "npm install -g --omit=dev /tmp/qfarm.tgz",
      "prefix=$(npm prefix -g)",
      "install -d /opt/qfarm/bootstrap /etc/qfarm",
      "install -m 0755 \"$prefix/lib/node_modules/qfarm/scripts/bootstrap/qfarm-agent-start.sh\" /opt/qfarm/bootstrap/",
      "install -m 0644 \"$prefix/lib/node_modules/qfarm/scripts/bootstrap/qfarm-agent.service\" /etc/systemd/system/",
      "systemctl daemon-reload",
      "systemctl enable qfarm-agent.service",
      # No settings in the image: each machine gets them from its user data.
      "rm -f /etc/qfarm/agent.env /tmp/qfarm.tgz",
      # No agent state either (its id, results, input cache): an image made from a worker whose
      # agent ran would give every machine started from it that worker's identity. The agent
      # also binds its id to the machine, so a copied state directory gets a new id anyway.
      "systemctl stop qfarm-agent.service || true",
      "rm -rf /var/lib/qfarm/agent",
      # Each machine makes its own machine-id at first boot (systemd does when the file is empty).
      "truncate -s 0 /etc/machine-id",
      "apt-get clean",
      "cloud-init clean --logs || true",
    ]
  }
}
