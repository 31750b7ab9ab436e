import test from 'ava';
import { describeCpu, machineInfo } from '../../bench/harness/machine.js';

test('the CPU is described with its widest vector extension', (t) => {
  t.is(describeCpu('AMD EPYC', new Set(['fpu', 'sse2', 'avx', 'avx2', 'fma'])), 'AMD EPYC (AVX2)');
  t.is(describeCpu('AMD EPYC', new Set(['avx', 'avx2', 'avx512f', 'avx512bw'])), 'AMD EPYC (AVX-512)');
  t.is(describeCpu('Old Xeon', new Set(['sse2', 'avx'])), 'Old Xeon (AVX)');
  t.is(describeCpu('Neoverse', new Set(['fp', 'asimd'])), 'Neoverse');
  t.is(describeCpu('Unknown', undefined), 'Unknown');
});

test('this machine is described: on x64 Linux its description ends with its vector extension', (t) => {
  const machine = machineInfo();
  t.true(machine.cpu.length > 0);
  if (process.platform === 'linux' && process.arch === 'x64') t.regex(machine.cpu, /\((AVX|AVX2|AVX-512)\)$/);
});
