import { ProviderConfigError } from './errors.js';

/**
 * Alibaba Cloud credentials. The secret lives in a private field so that logging, JSON or
 * util.inspect of this object (or of a client holding it) never shows it.
 */
export class AlibabaCredentials {
  readonly #secret: string;
  readonly #securityToken: string | undefined;
  constructor(
    readonly accessKeyId: string,
    accessKeySecret: string,
    securityToken?: string,
  ) {
    this.#secret = accessKeySecret;
    this.#securityToken = securityToken || undefined;
  }

  /** Only for handing to pop-core's credentialsProvider at request time. */
  reveal(): { accessKeyId: string; accessKeySecret: string; securityToken?: string } {
    return this.#securityToken
      ? { accessKeyId: this.accessKeyId, accessKeySecret: this.#secret, securityToken: this.#securityToken }
      : { accessKeyId: this.accessKeyId, accessKeySecret: this.#secret };
  }

  toJSON(): { accessKeyId: string } {
    return { accessKeyId: this.accessKeyId };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `AlibabaCredentials(${this.accessKeyId})`;
  }
}

/** Reads Alibaba's standard variable names; throws a ProviderConfigError naming what is missing. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env, provider = 'alibaba'): AlibabaCredentials {
  const id = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const secret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  const missing = [!id && 'ALIBABA_CLOUD_ACCESS_KEY_ID', !secret && 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'].filter(Boolean);
  if (!id || !secret) {
    throw new ProviderConfigError(`set ${missing.join(' and ')} in the master's environment (RAM user with ECS permissions)`, { provider });
  }
  return new AlibabaCredentials(id, secret, env.ALIBABA_CLOUD_SECURITY_TOKEN);
}
