import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { nativeBuildFile } from '../package-root.js';

/** Who is at the other end of a unix-domain connection, as the kernel recorded it at connect(). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface NativeAddon {
  peerCredentials(fd: number): PeerCredentials;
}

let addon: NativeAddon | undefined;

/** Loads the SO_PEERCRED addon once; a missing build is an error that says how to make it. */
function loadAddon(): NativeAddon {
  if (addon) return addon;
  addon = createRequire(import.meta.url)(nativeBuildFile('qfarm_native.node', 'the native addon')) as NativeAddon;
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
