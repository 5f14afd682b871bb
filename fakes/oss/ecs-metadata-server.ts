/**
 * A local stand-in for the ECS metadata server (100.100.100.200) — just the parts OSS
 * credentials need: the hardened-mode token (PUT /latest/api/token), the RAM role name and its
 * STS credentials (GET /latest/meta-data/ram/security-credentials/[role]), and the instance id
 * (GET /latest/meta-data/instance-id, which binds an agent's id to its machine). Pair it with a
 * FakeOssServer key that requires the same security token.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';

export interface FakeRoleCredentials {
  AccessKeyId: string;
  AccessKeySecret: string;
  SecurityToken: string;
  Expiration: string;
}

export class FakeEcsMetadataServer {
  /** Requests seen, as "METHOD path". */
  readonly requests: string[] = [];
  private readonly token = randomBytes(16).toString('hex');
  private server!: Server;
  /** What GET /latest/meta-data/instance-id answers. */
  instanceId = `i-${randomBytes(10).toString('hex')}`;

  private constructor(
    readonly roleName: string,
    public credentials: FakeRoleCredentials,
    /** Require the X-aliyun-ecs-metadata-token header (hardened mode). */
    readonly requireToken: boolean,
  ) {}

  static async start(roleName: string, credentials: FakeRoleCredentials, requireToken = true): Promise<FakeEcsMetadataServer> {
    const s = new FakeEcsMetadataServer(roleName, credentials, requireToken);
    s.server = createServer((req, res) => {
      const path = req.url ?? '/';
      s.requests.push(`${req.method} ${path}`);
      const reply = (status: number, body: string, type = 'text/plain') => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (req.method === 'PUT' && path === '/latest/api/token') return reply(200, s.token);
      if (s.requireToken && req.headers['x-aliyun-ecs-metadata-token'] !== s.token) return reply(403, 'Forbidden');
      if (path === '/latest/meta-data/instance-id') return reply(200, s.instanceId);
      if (path === '/latest/meta-data/ram/security-credentials/') return reply(200, s.roleName);
      if (path === `/latest/meta-data/ram/security-credentials/${s.roleName}`) {
        return reply(200, JSON.stringify({ Code: 'Success', LastUpdated: new Date().toISOString(), ...s.credentials }), 'application/json');
      }
      return reply(404, 'Not Found');
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', () => resolve()));
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
