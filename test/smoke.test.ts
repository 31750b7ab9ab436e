import test from 'ava';
test('ava runs TypeScript', (t) => {
  const n: number = 2;
  t.is(n + 1, 3);
});
