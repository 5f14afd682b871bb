import t from 'tap';
import { compileGroupSpec, GroupSpecError } from '../../protocol/groups.js';
import { ProtocolValidationError } from '../../protocol/validate.js';
import { classifyAlibabaError, mapAlibabaError } from '../../master/providers/alibaba-error-map.js';
import { credentialsFromEnv } from '../../master/providers/alibaba-credentials.js';
import { inspect } from 'node:util';

t.test('compileGroupSpec fills defaults and names every cross-field problem', async (t) => {
  const local = compileGroupSpec({ name: 'default', provider: 'local' });
  t.equal(local.maxSize, 4);
  t.equal(local.spot.strategy, 'none');
  t.same(local.billing, { unitSeconds: 1, minimumSeconds: 0 });
  t.equal(local.autoscale.joinDeadlineSeconds, 600);

  const err = (() => {
    try {
      compileGroupSpec({ name: 'bad', provider: 'ecs', minSize: 5, maxSize: 2, spot: { strategy: 'price-limit' } });
    } catch (e) {
      return e;
    }
  })() as GroupSpecError;
  t.type(err, GroupSpecError);
  t.match(err.message, /minSize 5 is larger than maxSize 2/);
  t.match(err.message, /price-limit needs spot.maxPrice/);
  t.match(err.message, /provider ecs needs ecs:/);
  t.match(err.message, /needs image/);
  t.throws(() => compileGroupSpec({ name: '1bad', provider: 'local' }), ProtocolValidationError);
  t.throws(() => compileGroupSpec({ name: 'x', provider: 'gcp' }), ProtocolValidationError);
  const spot = compileGroupSpec({ name: 's', provider: 'ecs', image: 'm', instanceTypes: ['t'], spot: { strategy: 'price-limit', maxPrice: 0.3 }, ecs: { regionId: 'r', vSwitchId: 'v', securityGroupId: 'g' }, autoscale: { idleSeconds: 30 } });
  t.equal(spot.hourlyPrice, 0.3, 'price limit doubles as the price for tasks/$');
  t.equal(spot.autoscale.idleSeconds, 30);
  t.equal(spot.autoscale.scaleInCooldownSeconds, 300);
});

t.test('error classification: retryable vs not, and named classes', async (t) => {
  const rpc = (code: string) => Object.assign(new Error(`msg, URL: https://ecs/?SecurityToken=SECRET`), { name: `${code}Error`, code, data: { Code: code, Message: `m ${code}`, RequestId: 'R1' } });
  t.equal(classifyAlibabaError(rpc('Throttling.User')).retryable, true);
  t.equal(classifyAlibabaError(rpc('ServiceUnavailable')).retryable, true);
  t.equal(classifyAlibabaError(rpc('InvalidParameter')).retryable, false);
  t.equal(classifyAlibabaError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).retryable, true);
  t.equal(classifyAlibabaError(Object.assign(new Error('x'), { name: 'RequestTimeoutError' })).retryable, true);
  t.equal(classifyAlibabaError(new SyntaxError('Unexpected token <')).retryable, true, 'an HTML 502 page');
  t.equal(classifyAlibabaError({ statusCode: 502, result: { Code: 'BadGateway', Message: 'x' } }).retryable, true);
  t.equal(mapAlibabaError(rpc('InvalidAccountStatus.NotEnoughBalance'), { provider: 'ecs' }).name, 'ProviderAuthError');
  t.equal(mapAlibabaError(rpc('QuotaExceed.AfterpayInstance'), { provider: 'ecs' }).name, 'QuotaExceededError');
  t.equal(mapAlibabaError(rpc('OperationDenied.NoStock'), { provider: 'ecs' }).name, 'StockOutError');
  t.equal(mapAlibabaError(rpc('InvalidImageId.NotFound'), { provider: 'ecs' }).name, 'InvalidImageError');
  const generic = mapAlibabaError(Object.assign(new Error('boom, URL: https://x/?SecurityToken=SECRET'), { code: 'Weird' }), { provider: 'ecs', group: 'g' });
  t.equal(generic.name, 'ProviderRequestError');
  t.notMatch(generic.message, /SECRET/, 'pop-core appends the signed URL: dropped');
});

t.test('credentials come from the standard variables and never show their secret', async (t) => {
  t.throws(() => credentialsFromEnv({}), { name: 'ProviderConfigError', message: /ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/ });
  const c = credentialsFromEnv({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAIkey', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'very-secret', ALIBABA_CLOUD_SECURITY_TOKEN: 'sts' });
  t.notMatch(JSON.stringify(c), 'very-secret');
  t.notMatch(inspect(c), 'very-secret');
  t.notMatch(inspect({ nested: c }, { depth: 5 }), 'very-secret');
  t.equal(c.reveal().securityToken, 'sts');
});
