import t from 'tap';
import { destinationUnder, directoryPrefix, isPlainRelativePath } from '../../storage/tree-keys.js';

t.test('a directory URL lists the same objects with or without its trailing slash', async (t) => {
  t.equal(directoryPrefix('renders/shot12'), 'renders/shot12/');
  t.equal(directoryPrefix('renders/shot12/'), 'renders/shot12/');
  t.equal(directoryPrefix(''), '', 'the bucket root stays the root');
});

t.test('a key lands under the destination or nowhere', async (t) => {
  t.equal(destinationUnder('/dest', 'frames/0001.png'), '/dest/frames/0001.png');
  t.equal(destinationUnder('/dest', 'a//b.png'), '/dest/a/b.png', 'an empty segment collapses');
  t.equal(destinationUnder('/dest', '../etc/passwd'), null);
  t.equal(destinationUnder('/dest', 'a/../../etc/passwd'), null);
  t.equal(destinationUnder('/dest', 'a/../b'), null, '".." is refused even when it stays inside');
  t.equal(destinationUnder('/dest', '/etc/passwd'), null, 'an absolute path');
  t.equal(destinationUnder('/dest', ''), null, 'the destination itself is not a file under it');
  t.equal(destinationUnder('/dest', '../dest2/x'), null, 'a sibling sharing the name prefix');
});

t.test('a plain relative path has only named segments', async (t) => {
  t.ok(isPlainRelativePath('a/b/c.exr'));
  t.ok(isPlainRelativePath('.hidden/x'), 'a dot file is a name');
  for (const bad of ['', '/a', 'a/', 'a//b', './a', 'a/./b', '../a', 'a/..']) t.notOk(isPlainRelativePath(bad), bad);
});
