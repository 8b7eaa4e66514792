import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocatorAdvice, glibcVersion, MMAP_THRESHOLD_ENV } from '../../src/service/allocator.js';

describe('allocator advice (glibc malloc fragmentation)', () => {
  it('names the setting and its value on glibc when MALLOC_MMAP_THRESHOLD_ is unset', () => {
    const line = allocatorAdvice({}, '2.36');
    assert.ok(line !== null && line.includes(`${MMAP_THRESHOLD_ENV}=131072`) && line.includes('glibc 2.36'), String(line));
  });

  it('says nothing when the setting is there, or off glibc', () => {
    assert.equal(allocatorAdvice({ [MMAP_THRESHOLD_ENV]: '262144' }, '2.36'), null);
    assert.equal(allocatorAdvice({}, undefined), null);
  });

  it('reads the runtime glibc version on this machine (Debian: glibc)', () => {
    const v = glibcVersion();
    if (process.platform !== 'linux') return;
    assert.match(String(v), /^\d+\.\d+/);
  });
});
