import t from 'tap';
import { InvalidArgumentError } from 'commander';
import { amount, frameNumber, wholeNumber } from '../../cli/option-numbers.js';

t.test('a whole number option takes whole numbers from its minimum up', async (t) => {
  const agents = wholeNumber('--agents', 1);
  t.equal(agents('1'), 1);
  t.equal(agents('64'), 64);
  t.throws(() => agents('0'), new InvalidArgumentError('--agents must be a whole number >= 1, got "0"'), 'a positive count refuses 0');
  for (const bad of ['', ' ', '-1', '1.5', 'two', '9007199254740993']) t.throws(() => agents(bad), InvalidArgumentError, `refuses "${bad}"`);
  t.equal(wholeNumber('--min', 0)('0'), 0, 'a count that may be 0 takes 0');
});

t.test('an amount takes fractions from 0 up', async (t) => {
  const price = amount('--hourly-price');
  t.equal(price('0'), 0);
  t.equal(price('0.25'), 0.25);
  for (const bad of ['', '-0.1', 'Infinity', 'cheap']) t.throws(() => price(bad), { message: `--hourly-price must be a number >= 0, got "${bad}"` });
});

t.test('a frame number takes any whole number, negative ones too', async (t) => {
  const start = frameNumber('-s');
  t.equal(start('-10'), -10);
  t.equal(start('0'), 0);
  for (const bad of ['', '1.5', 'first']) t.throws(() => start(bad), { message: `-s must be a frame number, got "${bad}"` });
});
