/** The watcher's list page sizing (pure logic). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIRST_PAGE, MAX_PAGE, MIN_PAGE, PAGE_BYTES, PageSizer } from '../../src/runtime/page-size.js';

test('the first page is 500 objects; later pages hold about 2 MiB from the bytes per object seen so far', () => {
  const pages = new PageSizer();
  assert.equal(pages.size, FIRST_PAGE);
  // 500 objects of 1 KiB: 2,048 per page.
  assert.equal(pages.next(500, 500 * 1024), PAGE_BYTES / 1024);
  // The average moves with every page: 500 more of 3 KiB make 2 KiB per object.
  assert.equal(pages.next(500, 500 * 3 * 1024), PAGE_BYTES / 2048);
});

test('page sizes stay between 100 and 10,000 objects', () => {
  assert.equal(new PageSizer().next(500, 500 * 100), MAX_PAGE, 'tiny objects');
  assert.equal(new PageSizer().next(500, 500 * 1024 * 1024), MIN_PAGE, 'objects of 1 MiB');
});

test('a fixed pageSize, an empty page or an unknown size keeps the size', () => {
  const fixed = new PageSizer(250);
  assert.equal(fixed.size, 250);
  assert.equal(fixed.next(250, 250 * 10), 250);
  const pages = new PageSizer();
  assert.equal(pages.next(0, 50), FIRST_PAGE);
  assert.equal(pages.next(500, undefined), FIRST_PAGE);
});
