import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Who is at the other end of a unix-domain connection, as the kernel recorded it at connect(). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface NativeAddon {
  peerCredentials(fd: number): PeerCredentials;
}

const ADDON_RELATIVE = path.join('build', 'Release', 'qfarm_native.node');

/**
 * The package root holds build/Release: from master/api (sources under tsx) it is two levels
 * up, from dist/master/api three. Walk up until package.json is found instead of counting.
 */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find qfarm's package.json above ${path.dirname(fileURLToPath(import.meta.url))}`);
    dir = parent;
  }
}

let addon: NativeAddon | undefined;

/** Loads the SO_PEERCRED addon once; a missing build is an error that says how to make it. */
function loadAddon(): NativeAddon {
  if (addon) return addon;
  const file = path.join(packageRoot(), ADDON_RELATIVE);
  if (!fs.existsSync(file)) {
    throw new Error(`the native addon ${file} is missing: run 'npm install' in ${packageRoot()} (it builds native/ with node-gyp)`);
  }
  addon = createRequire(import.meta.url)(file) as NativeAddon;
  return addon;
}

/** Fails at start rather than at the first local request when the addon cannot be loaded. */
export function checkPeerCredentialsAvailable(): void {
  loadAddon();
}

/** SO_PEERCRED of a connected unix-domain socket. */
export function peerCredentials(socket: Socket): PeerCredentials {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the API socket connection has no file descriptor to read peer credentials from');
  return loadAddon().peerCredentials(fd);
}
