import t from 'tap';
import { MasterEventBus } from '../../../master/events.js';
import { LiveStreams } from '../../../master/web/live-stream.js';
import { openTestStore } from '../../helpers/test-store.js';

/** The dashboard's live streams hang off the master's event bus; closed, they leave nothing on it. */

t.test('closing the live streams takes every one of their listeners off the bus', (t) => {
  const { db } = openTestStore(t, 'live-stream');
  const events = new MasterEventBus();
  const listeners = (): number => events.eventNames().reduce((n, name) => n + events.listenerCount(name), 0);
  const before = listeners();
  const streams = new LiveStreams(db, events);
  t.ok(listeners() > before, 'it listens while open');
  streams.close();
  t.equal(listeners(), before, 'and not at all once closed');
  t.end();
});
