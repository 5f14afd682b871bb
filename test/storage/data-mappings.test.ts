import t from 'tap';
import { nfsMountArgs, ossfsMountArgs, parseDataMapping, unmountArgs } from '../../storage/data-mappings.js';

t.test('parses the three mapping forms, read-only by default', async (t) => {
  t.same(parseDataMapping('oss://scenes/shot1/:/mnt/scene'), { kind: 'oss', source: 'oss://scenes/shot1/', target: '/mnt/scene', readOnly: true });
  t.same(parseDataMapping('oss://scenes/shot1/:/mnt/scene:rw'), { kind: 'oss', source: 'oss://scenes/shot1/', target: '/mnt/scene', readOnly: false });
  t.same(parseDataMapping('nas://26a1-sfi98.cn-shenzhen.nas.aliyuncs.com:/:/mnt/nas:ro'), {
    kind: 'nas',
    source: 'nas://26a1-sfi98.cn-shenzhen.nas.aliyuncs.com:/',
    target: '/mnt/nas',
    readOnly: true,
  });
  t.same(parseDataMapping('nas://fs.example.com:/export/ref:/ref'), { kind: 'nas', source: 'nas://fs.example.com:/export/ref', target: '/ref', readOnly: true });
  t.same(parseDataMapping('file:///data/in/:/in'), { kind: 'file', source: 'file:///data/in/', target: '/in', readOnly: true });
});

t.test('rejects what it cannot use, saying why', async (t) => {
  t.throws(() => parseDataMapping('oss://scenes/shot1/'), { name: 'InvalidMappingError', message: /no ":\/local\/path" target/ });
  t.throws(() => parseDataMapping('oss://Bad_Bucket/x:/mnt'), { name: 'InvalidMappingError', message: /not a valid OSS bucket name/ });
  t.throws(() => parseDataMapping('nas://host/export:/mnt'), { name: 'InvalidMappingError' });
  t.throws(() => parseDataMapping('oss://b-1/x/:/mnt/../etc'), { name: 'InvalidMappingError', message: /absolute path/ });
  t.throws(() => parseDataMapping('s3://b/x:/mnt'), { name: 'InvalidMappingError', message: /unknown scheme/ });
});

t.test('mount commands are argv arrays with the recommended options', async (t) => {
  const nas = parseDataMapping('nas://fs.example.com:/export:/mnt/nas:rw');
  t.same(nfsMountArgs(nas), [
    'mount', '-t', 'nfs', '-o', 'vers=3,nolock,proto=tcp,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport', 'fs.example.com:/export', '/mnt/nas',
  ]);
  t.match(nfsMountArgs(parseDataMapping('nas://fs.example.com:/export:/mnt/nas'))[4], /,ro$/);
  const oss = parseDataMapping('oss://scenes/shot 1/:/mnt/scene');
  t.same(ossfsMountArgs(oss, { endpointUrl: 'http://oss-cn-hangzhou-internal.aliyuncs.com', ramRoleUrl: 'http://100.100.100.200/latest/meta-data/ram/security-credentials/worker' }), [
    'ossfs', 'scenes:/shot 1', '/mnt/scene', '-ourl=http://oss-cn-hangzhou-internal.aliyuncs.com',
    '-oram_role=http://100.100.100.200/latest/meta-data/ram/security-credentials/worker', '-oallow_other', '-oro',
  ]);
  t.throws(() => ossfsMountArgs(oss, { endpointUrl: 'http://x' }), /needs a passwd file or a RAM role/);
  t.same(unmountArgs(oss), ['fusermount', '-u', '/mnt/scene']);
  t.same(unmountArgs(nas), ['umount', '/mnt/nas']);
});

t.test('a NAS source without a target is reported as such', async (t) => {
  t.throws(() => parseDataMapping('nas://fs.example.com:/export'), { name: 'InvalidMappingError', message: /no ":\/local\/path" target after nas/ });
});

t.test('parsed mappings validate against the protocol schema', async (t) => {
  const { jobDataValidators } = await import('../../protocol/job-data.js');
  for (const spec of ['oss://scenes/shot1/:/mnt/scene', 'nas://fs.example.com:/export:/ref:rw', 'file:///data/in/:/in']) {
    t.same(jobDataValidators.dataMapping.problems(parseDataMapping(spec)), [], spec);
  }
  t.notOk(jobDataValidators.jobData.check({ inputs: [], outputUrl: 's3://x/' }));
});

t.test('findExecutable looks through PATH for an executable file', async (t) => {
  const { findExecutable } = await import('../../storage/data-mappings.js');
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'qfarm-path-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ossfs'), '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(join(dir, 's3fs'), 'not executable', { mode: 0o644 });
  t.equal(await findExecutable('ossfs', { PATH: `/nonexistent:${dir}` }), join(dir, 'ossfs'));
  t.equal(await findExecutable('nope-not-here', { PATH: dir }), undefined);
  t.equal(await findExecutable('s3fs', { PATH: dir }), undefined, 'a file without execute bits does not count');
  t.equal(await findExecutable('ossfs', {}), undefined);
});
